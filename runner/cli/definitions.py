"""``rm``, ``enable`` and ``disable`` for stored definitions (triggers, sinks).

Both kinds live in the same KV-backed :class:`~runner.triggers.definitions.Definitions`
store, so the three commands are one implementation, registered per kind.
"""

# No ``from __future__ import annotations`` here: the commands' annotations are
# evaluated where they are defined, so the NAME argument's help can name the kind.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from runner.bus.base import Bus
from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import NATS_FLAGS, settings_of, settings_options
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.triggers.definitions import Definitions

Opener = Callable[[Bus], Awaitable[Definitions[Any]]]


def add_state_commands(
    app: typer.Typer,
    *,
    noun: str,
    opener: Opener,
    rm_doc: str,
    enable_doc: str,
    disable_doc: str,
) -> None:
    """Register ``rm NAME``, ``enable NAME`` and ``disable NAME`` on ``app``."""

    async def change(settings: Settings, name: str, enabled: bool | None) -> None:
        async with open_stack(settings, controller=False) as stack:
            definitions = await opener(stack.bus)
            if enabled is None:
                await definitions.remove(name)
            else:
                await definitions.set_enabled(name, enabled)

    def command(enabled: bool | None, done: str, doc: str) -> Callable[..., None]:
        @settings_options(*NATS_FLAGS)
        def run(
            ctx: typer.Context,
            name: Annotated[str, typer.Argument(metavar="NAME", help=f"{noun.title()} name.")],
        ) -> None:
            with user_errors():
                run_async(change(settings_of(ctx), name, enabled))
            typer.echo(f"{done} {noun} {name}")

        run.__doc__ = doc
        return run

    app.command("rm")(command(None, "removed", rm_doc))
    app.command("enable")(command(True, "enabled", enable_doc))
    app.command("disable")(command(False, "disabled", disable_doc))
