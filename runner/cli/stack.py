"""Which stack a command talks to, and the marker a ``runner up`` leaves behind.

Commands open a :class:`~runner.local.LocalStack`: it uses ``--nats`` /
``NATS_URL`` when set, else the embedded nats-server a ``runner up`` (or
another command) is running for the home, else starts a private one. The
``<home>/up.json`` marker (pid and NATS URL of a live ``runner up``) lets a
command say which of these it is using, and stops a second ``runner up`` on
the same home.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from runner.bus import discover, redact_url
from runner.config import Settings
from runner.errors import ConfigError
from runner.local import LocalStack

__all__ = [
    "UP_MARKER",
    "UpInfo",
    "check_executor",
    "describe_stack",
    "open_stack",
    "read_up",
    "remove_up",
    "shared_stack_url",
    "wait_for_private_server",
    "write_up",
]

UP_MARKER = "up.json"
PRIVATE_SERVER_GRACE = 5.0
"""How long a new run waits for another command's private server to go away."""


@dataclass(frozen=True)
class UpInfo:
    """A live ``runner up`` serving a home."""

    pid: int
    nats_url: str


def read_up(home: Path) -> UpInfo | None:
    """The ``runner up`` serving ``home``, if its process is still alive."""
    try:
        raw = json.loads((home / UP_MARKER).read_text())
        info = UpInfo(pid=int(raw["pid"]), nats_url=str(raw["nats_url"]))
        started = raw.get("started")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return info if _same_process(info.pid, started) else None


def write_up(home: Path, nats_url: str) -> None:
    pid = os.getpid()
    path = home / UP_MARKER
    tmp = path.with_suffix(".tmp")
    # 0600: an external NATS URL may carry user:password@.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"pid": pid, "nats_url": nats_url, "started": _start_time(pid)}))
    tmp.replace(path)


def remove_up(home: Path) -> None:
    """Remove the marker if it is this process's."""
    info = read_up(home)
    if info is None or info.pid == os.getpid():
        (home / UP_MARKER).unlink(missing_ok=True)


def shared_stack_url(settings: Settings) -> str | None:
    """The NATS URL of a stack that outlives this command: external, or a ``runner up``."""
    if settings.nats.url:
        return settings.nats.url
    up = read_up(settings.home.resolve())
    return up.nats_url if up is not None else None


async def wait_for_private_server(settings: Settings, grace: float = PRIVATE_SERVER_GRACE) -> None:
    """Make sure no other command's private server is in the way of a new run.

    A server in the home that no ``runner up`` owns belongs to another command
    (a ``runner run``, or a ``status`` reading history) and stops with it: a
    run submitted there would lose its controller, or its server, midway. A
    short-lived reader is waited for; a long one is an error with the fix.
    """
    if shared_stack_url(settings) is not None:
        return
    data_dir = settings.home.resolve() / "nats"
    deadline = time.monotonic() + grace
    while (url := discover(data_dir)) is not None:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"the embedded NATS of {settings.home.resolve()} ({url}) belongs to another "
                "runner command that is still running (another `runner run`, or a --follow): "
                "wait for it to end, use another --home, or start `runner up` so that "
                "commands share one stack"
            )
        await asyncio.sleep(0.1)


def check_executor(settings: Settings, *, in_process: bool) -> None:
    """Kubernetes steps must reach NATS: not a private server on this machine's loopback."""
    if in_process and settings.executor == "kubernetes" and not settings.nats.url:
        raise ConfigError(
            "the Kubernetes executor needs a NATS server its step pods can reach, not the "
            "embedded one: set --nats / NATS_URL (e.g. the cluster's nats://nats:4222), "
            "or use --executor local"
        )


def open_stack(settings: Settings, *, controller: bool | None = None) -> LocalStack:
    """The stack for a command; ``controller=None`` runs one only with a private server."""
    would_run_controller = controller is True or (
        controller is None
        and shared_stack_url(settings) is None
        and discover(settings.home.resolve() / "nats") is None
    )
    check_executor(settings, in_process=would_run_controller)
    up = read_up(settings.home.resolve()) if settings.nats.url is None else None
    if up is not None:
        # The `runner up` of this home may serve an external NATS rather than the
        # home's embedded server: go where it is.
        nats = settings.nats.model_copy(update={"url": up.nats_url})
        settings = settings.model_copy(update={"nats": nats})
    return LocalStack(settings, controller=controller)


def describe_stack(stack: LocalStack) -> str:
    """Where a run goes, in words."""
    url = redact_url(stack.nats_url or "?")
    if stack.controller is not None and stack.embedded is not None:
        return "private nats-server and in-process controller (stop with the command)"
    if stack.controller is not None:
        return f"in-process controller on NATS {url}"
    up = read_up(stack.settings.home.resolve())
    if up is not None and stack.embedded is None and up.nats_url == stack.nats_url:
        return f"the `runner up` stack (pid {up.pid}) at {url}"
    return f"NATS {url}"


def _same_process(pid: int, started: object) -> bool:
    """``pid`` is alive and, where /proc tells, is the process that wrote the marker
    (a reused PID has another start time)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    now = _start_time(pid)
    return started is None or now is None or now == started


def _start_time(pid: int) -> int | None:
    """The process start time from /proc (clock ticks since boot); None elsewhere."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    return None
