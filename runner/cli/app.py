"""The typer application and the shared handling of user mistakes.

Command modules define ``register(app)``; add a new group by writing a module
and listing it in :data:`_COMMAND_MODULES`. A :class:`~runner.errors.RunnerError`
raised by the library is a user mistake: it prints one ``error: ...`` line to
stderr and exits with status 2, without a traceback (:mod:`runner.cli.errors`).
"""

from __future__ import annotations

import importlib

import typer

from runner.cli.errors import USER_ERROR_EXIT, user_errors

__all__ = ["USER_ERROR_EXIT", "app", "user_errors"]

app = typer.Typer(
    name="runner",
    help="Event-driven ML pipelines: author, compile and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


_COMMAND_MODULES = (
    "runner.cli.run",
    "runner.cli.up",
    "runner.cli.controller",
    "runner.cli.runs",
    "runner.cli.logs",
    "runner.cli.events",
    "runner.cli.cache",
    "runner.cli.environments",
    "runner.cli.compile",
    "runner.cli.config",
    "runner.cli.triggers",
    "runner.cli.sinks",
    "runner.cli.trace",
    "runner.cli.pipelines",
    "runner.cli.experiments",
    "runner.cli.lineage",
    "runner.cli.schedules",
)


def _register() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register()
