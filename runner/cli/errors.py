"""User mistakes on the command line: one ``error:`` line, exit status 2.

A :class:`~runner.errors.RunnerError` raised by the library is a user mistake
(a bad file, parameter or setting, an unreachable server): it is printed as
one ``error: ...`` line on stderr, without a traceback. Kept apart from
:mod:`runner.cli.app` so command modules can be imported on their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from runner.errors import RunnerError

__all__ = ["USER_ERROR_EXIT", "user_errors"]

USER_ERROR_EXIT = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a RunnerError into ``error: <message>`` on stderr and exit status 2."""
    try:
        yield
    except RunnerError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(USER_ERROR_EXIT) from None
