"""The typer application and the shared handling of user mistakes.

Command modules define ``register(app)``; add a new group by writing a module
and listing it in :data:`_COMMAND_MODULES`. A :class:`~runner.errors.RunnerError`
raised by the library is a user mistake: it prints one ``error: ...`` line to
stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from runner.errors import RunnerError

__all__ = ["USER_ERROR_EXIT", "app", "user_errors"]

USER_ERROR_EXIT = 2

app = typer.Typer(
    name="runner",
    help="Event-driven ML pipelines: author, compile and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a RunnerError into ``error: <message>`` on stderr and exit status 2."""
    try:
        yield
    except RunnerError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(USER_ERROR_EXIT) from None


_COMMAND_MODULES = (
    "runner.cli.run",
    "runner.cli.up",
    "runner.cli.runs",
    "runner.cli.logs",
    "runner.cli.events",
    "runner.cli.cache",
    "runner.cli.compile",
    "runner.cli.config",
)


def _register() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register()
