"""The ``runner`` command: a thin typer CLI over the library.

Each command group lives in its own module under :mod:`runner.cli` and
registers itself on :data:`runner.cli.app.app`.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Console-script entry point."""
    from runner.cli.app import app

    app(prog_name="runner")
