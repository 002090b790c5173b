"""Which stack a command talks to, and the marker a ``runner up`` leaves behind.

Commands open a :class:`~runner.stack.Stack`: it uses ``--nats`` /
``NATS_URL`` when set, else the embedded nats-server a ``runner up`` (or
another command) is running for the home, else starts a private one. The
``<home>/up.json`` marker (pid, start time, boot id and NATS URL of a live
``runner up``) lets a command say which of these it is using, and stops a
second ``runner up`` on the same home. A marker or a server record whose
process is gone (``kill -9``; a reused pid has another start time) is stale:
it blocks nothing, and the orphaned server is stopped by the next stack.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from runner.bus import discover, redact_url
from runner.bus.server_record import read_record
from runner.config import Settings
from runner.errors import ConfigError
from runner.process_identity import ProcessIdentity
from runner.stack import Stack

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
        identity = ProcessIdentity.from_json(raw)
        url = raw["nats_url"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if identity is None or not isinstance(url, str) or not identity.alive():
        return None  # gone, or its pid now belongs to another process
    return UpInfo(pid=identity.pid, nats_url=url)


def write_up(home: Path, nats_url: str) -> None:
    path = home / UP_MARKER
    tmp = path.with_suffix(".tmp")
    # The URL without user:password@ — nothing under the home holds a secret; the
    # other commands of the home bring their own credentials (RUNNER_NATS_*).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    record = {**ProcessIdentity.current().to_json(), "nats_url": redact_url(nats_url)}
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(record))
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


async def wait_for_private_server(
    settings: Settings, grace: float = PRIVATE_SERVER_GRACE, *, for_up: bool = False
) -> None:
    """Make sure no other command's private server is in the way of a new run
    (or, ``for_up``, of a new ``runner up``).

    A server in the home that no ``runner up`` owns belongs to another command
    (a ``runner run``, or a ``status`` reading history) and stops with it: a
    run submitted there would lose its controller, or its server, midway. A
    short-lived reader is waited for; a long one is an error with the fix.
    A server whose command was killed is no obstacle: :func:`discover` does
    not return it, and the new stack stops it.
    """
    if shared_stack_url(settings) is not None:
        return
    data_dir = settings.home.resolve() / "nats"
    deadline = time.monotonic() + grace
    while (url := discover(data_dir)) is not None:
        if time.monotonic() > deadline:
            record = read_record(data_dir)
            owner = f"pid {record.owner.pid}" if record is not None else "still running"
            share = "" if for_up else ", or start `runner up` so that commands share one stack"
            raise ConfigError(
                f"the embedded NATS of {settings.home.resolve()} ({url}) belongs to another "
                f"runner command ({owner}: another `runner run`, or a --follow): wait for it "
                f"to end, use another --home{share}"
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


def open_stack(settings: Settings, *, controller: bool | None = None) -> Stack:
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
    return Stack(settings, controller=controller)


def describe_stack(stack: Stack) -> str:
    """Where a run goes, in words."""
    url = redact_url(stack.nats_url or "?")
    if stack.controller is not None and stack.embedded is not None:
        return "private nats-server and in-process controller (stop with the command)"
    if stack.controller is not None:
        return f"in-process controller on NATS {url}"
    home = stack.settings.home.resolve()
    up = read_up(home)
    if (
        up is not None
        and stack.embedded is None
        and up.nats_url == redact_url(stack.nats_url or "")
    ):
        return f"the `runner up` stack (pid {up.pid}) at {url}"
    record = read_record(home / "nats")
    if stack.embedded is None and record is not None and record.url == stack.nats_url:
        return (
            f"the private nats-server of another runner command (pid {record.owner.pid}) at {url}"
        )
    return f"NATS {url}"
