"""The ``runner`` command: a thin typer CLI over the library.

Each command group lives in its own module under :mod:`runner.cli` and
registers itself on :data:`runner.cli.app.app`.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Console-script entry point.

    Usage mistakes (an unknown option, a missing argument) are reported like
    every other user mistake: one ``error:`` line and exit status 2. Files the
    command creates are owner-only (umask 077).
    """
    import typer

    from runner.cli.app import app
    from runner.privacy import restrict_umask

    # Everything this command (and a nats-server or step it starts) creates
    # under the home is the owner's only: files 0600, directories 0700.
    restrict_umask()

    try:
        code = app(prog_name="runner", standalone_mode=False)
    except typer.TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        context = getattr(exc, "ctx", None)
        if message:  # empty when the group's help was shown for missing arguments
            hint = f" (see `{context.command_path} --help`)" if context is not None else ""
            typer.echo(f"error: {message}{hint}", err=True)
        code = getattr(exc, "exit_code", 2)
    except typer.Abort:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
