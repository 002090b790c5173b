"""Which stack a command talks to, and the marker a ``runner up`` leaves behind.

Commands open a :class:`~runner.local.LocalStack`: it uses ``--nats`` /
``NATS_URL`` when set, else the embedded nats-server a ``runner up`` (or
another command) is running for the home, else starts a private one. The
``<home>/up.json`` marker (pid and NATS URL of a live ``runner up``) lets a
command say which of these it is using, and stops a second ``runner up`` on
the same home.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from runner.bus import discover
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
    "write_up",
]

UP_MARKER = "up.json"


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
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if _alive(info.pid) else None


def write_up(home: Path, nats_url: str) -> None:
    path = home / UP_MARKER
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "nats_url": nats_url}))
    tmp.replace(path)


def remove_up(home: Path) -> None:
    """Remove the marker if it is this process's."""
    info = read_up(home)
    if info is None or info.pid == os.getpid():
        (home / UP_MARKER).unlink(missing_ok=True)


def shared_stack_url(settings: Settings) -> str | None:
    """The NATS URL of a stack that outlives this command (external, or a running server)."""
    return settings.nats.url or discover(settings.home.resolve() / "nats")


def check_executor(settings: Settings, *, in_process: bool) -> None:
    """The in-process controller runs steps locally; refuse to pretend otherwise."""
    if in_process and settings.executor != "local":
        raise ConfigError(
            f"executor {settings.executor!r} is not available to the local controller: "
            "point --nats / NATS_URL at the cluster's NATS (its controller runs the "
            "Kubernetes executor), or use --executor local"
        )


def open_stack(settings: Settings, *, controller: bool | None = None) -> LocalStack:
    """The stack for a command; ``controller=None`` runs one only with a private server."""
    would_run_controller = controller is True or (
        controller is None and shared_stack_url(settings) is None
    )
    check_executor(settings, in_process=would_run_controller)
    return LocalStack(settings, controller=controller)


def describe_stack(stack: LocalStack) -> str:
    """Where a run goes, in words."""
    url = stack.nats_url or "?"
    if stack.controller is not None and stack.embedded is not None:
        return "private nats-server and in-process controller (stop with the command)"
    if stack.controller is not None:
        return f"in-process controller on NATS {url}"
    up = read_up(stack.settings.home.resolve())
    if up is not None and stack.embedded is None and up.nats_url == url:
        return f"the `runner up` stack (pid {up.pid}) at {url}"
    return f"NATS {url}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    with contextlib.suppress(OSError):
        # A reused PID belongs to some other program: not a runner.
        return b"runner" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return True
