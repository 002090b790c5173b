"""``runner up``: the long-lived local stack (nats-server + controller) in the foreground.

Prints where it serves (the NATS URL other tools connect to, the store, the
nats-server pid) and a ``ready`` line, then runs until Ctrl-C / SIGTERM and
stops cleanly (controller, executor, clients, then the server it started):
exit status 0. While it runs, ``runner run`` in the same home (or with
``NATS_URL`` set to its URL) submits to it instead of starting its own.

The nats-server it starts is supervised (restarted on the same port if it
dies; exit status 2 when that keeps failing). A server left behind by a
killed command is stopped and replaced, and said so; a server of another
command that is still running is waited for, then refused.

``runner up --status`` prints what the running ``runner up`` of the home
serves, with its warm workers (the local executor's forked zygotes, read from
the status file it keeps under ``<home>/warm/``), and exits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from runner.bus import redact_url
from runner.cli.errors import user_errors
from runner.cli.options import ALL_FLAGS, settings_of, settings_options
from runner.cli.stack import (
    check_executor,
    read_up,
    remove_up,
    wait_for_private_server,
    write_up,
)
from runner.config import Settings
from runner.errors import ConfigError
from runner.privacy import make_private_dir
from runner.stack import Stack

__all__ = ["register", "warm_lines"]

StatusOption = Annotated[
    bool,
    typer.Option(
        "--status",
        help="Print what the running `runner up` of the home serves (NATS, warm workers) and exit.",
    ),
]


@settings_options(*ALL_FLAGS)
def up_command(
    ctx: typer.Context,
    status: StatusOption = False,
) -> None:
    """Run the local stack (nats-server + controller) until Ctrl-C."""
    with user_errors():
        settings = settings_of(ctx)
        if status:
            _print_status(settings.home.resolve())
            return
        check_executor(settings, in_process=True)
        home_dir = settings.home.resolve()
        running = read_up(home_dir)
        if running is not None:
            raise ConfigError(
                f"`runner up` already runs for {home_dir} (pid {running.pid}, NATS "
                f"{redact_url(running.nats_url)}): use it, or stop it first "
                "(Ctrl-C in its terminal)"
            )
        make_private_dir(home_dir)
        try:
            asyncio.run(_serve(settings))
        finally:
            remove_up(home_dir)
    typer.echo("runner up: stopped")


async def _serve(settings: Settings) -> None:
    # Imported here, not at the top: it imports croniter, which `runner --help` does without.
    from runner.service import serve

    # A live private server of another command would vanish with it: never serve on it.
    await wait_for_private_server(settings, for_up=True)
    await serve(settings, on_ready=lambda stack: _ready(settings, stack))


def _ready(settings: Settings, stack: Stack) -> None:
    write_up(settings.home.resolve(), stack.nats_url or "")
    url = redact_url(stack.nats_url or "?")  # never print credentials
    if stack.embedded is not None:
        server = f"nats-server pid {stack.embedded.pid}, restarted if it dies"
    elif settings.nats.url:
        server = "external nats-server"
    else:  # another command's: wait_for_private_server lost a race with it
        server = "nats-server of another runner command; it stops with that command"
    typer.echo(f"runner up: home {settings.home.resolve()}")
    replaced = stack.embedded.replaced if stack.embedded is not None else None
    if replaced is not None:
        typer.echo(
            f"  stopped an orphaned nats-server (pid {replaced.server.pid}) left by a killed "
            f"runner command (pid {replaced.owner.pid})"
        )
    typer.echo(f"  NATS:  {url}  ({server}; export NATS_URL={url} for other tools)")
    typer.echo(f"  store: {redact_url(stack.store.uri)}")
    if settings.executor == "local":
        typer.echo(f"  warm workers: {_warm_summary(settings)}")
    typer.echo("ready: runs in this home go to this stack; press Ctrl-C to stop")


def _warm_summary(settings: Settings) -> str:
    from runner.executors.warm import unsupported

    local = settings.local
    if not local.warm:
        return "off (RUNNER_WARM=0): every step starts a new interpreter"
    if (why := unsupported()) is not None:
        return f"off: {why}"
    return (
        f"on, at most {local.warm_max}, restarted past {local.warm_max_rss_mb} MB "
        "(`runner up --status` lists them)"
    )


def _print_status(home: Path) -> None:
    from runner.executors.warm import read_status  # only this path needs it

    running = read_up(home)
    if running is None:
        raise ConfigError(
            f"no `runner up` runs for {home}: start one with `runner up --home {home}`"
        )
    typer.echo(f"runner up: pid {running.pid}, home {home}")
    typer.echo(f"  NATS:  {redact_url(running.nats_url)}")
    for line in warm_lines(read_status(home), running.pid):
        typer.echo(line)


def warm_lines(status: dict[str, Any] | None, executor_pid: int) -> list[str]:
    """The warm workers of the executor ``executor_pid``, as its status file describes them."""
    from runner.executors.warm import rss_mb

    if status is None or status.get("executor_pid") != executor_pid:
        return ["  warm workers: none (none started yet, or RUNNER_WARM=0 where it runs)"]
    zygotes = [z for z in status.get("zygotes", []) if z.get("state") != "dead"]
    cold: dict[str, int] = status.get("cold_starts") or {}
    head = (
        f"  warm workers: {len(zygotes)} of at most {status.get('max')} (restarted past "
        f"{status.get('max_rss_mb')} MB)"
    )
    if status.get("restarts"):
        head += f"; {status['restarts']} died and were replaced"
    if cold:
        head += f"; {sum(cold.values())} attempt(s) started cold"
    lines = [head]
    for z in zygotes:
        rss = rss_mb(int(z["pid"])) or z.get("rss_mb")  # live when it can be read
        memory = f"{rss:.0f} MB" if isinstance(rss, int | float) else "? MB"
        lines.append(
            f"    pid {z['pid']}  {z['state']}  code {z.get('code') or '-'}  rss {memory}  "
            f"forks {z['forks']}  running {z['running']}  python {z['python']}"
        )
        if z.get("preloaded"):
            lines.append(f"      preloaded: {', '.join(z['preloaded'])}")
        if z.get("refused"):
            lines.append(f"      refuses to fork: {z['refused']}")
    lines += [f"    started cold {n}x: {reason}" for reason, n in sorted(cold.items())]
    return lines


def register(app: typer.Typer) -> None:
    app.command("up")(up_command)
