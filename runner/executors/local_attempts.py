"""An attempt's directory on the local executor, and what it says about the attempt.

``<home>/executions/<run>/<step>/<attempt>/`` is claimed with an atomic
``mkdir`` and holds:

- ``lock``: ``flock``-ed by the executor that claimed the attempt, and the
  same open file is inherited by the step process. The lock is free only
  when both are gone, so "is anybody still running or watching this
  attempt?" has an answer no reused pid can fool, after any crash;
- ``pid``: the step's :class:`~runner.process_identity.ProcessIdentity`
  (pid + start time + boot id): a process is signalled only if it matches;
- ``reported``: written by the step after it published its outcome;
- ``exit``: the exit status, written by the executor as soon as it saw it;
- ``stopped``: why the executor stopped the step itself (its controller shut down);
- ``request.json`` and ``log.txt``.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
from pathlib import Path

from runner.privacy import write_private
from runner.process_identity import ProcessIdentity

__all__ = [
    "AttemptLock",
    "Probe",
    "log_tail",
    "probe",
    "read_exit",
    "read_identity",
    "write_private",
]

LOCK = "lock"
PID = "pid"
REPORTED = "reported"
EXIT = "exit"
STOPPED = "stopped"
LOG = "log.txt"
REQUEST = "request.json"
LOG_TAIL_LINES = 20


class AttemptLock:
    """The attempt's ``flock``: held by its executor and inherited by its step."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def take(cls, state_dir: Path) -> AttemptLock | None:
        """Lock the attempt; None when someone (a step, an executor) holds it."""
        fd = os.open(state_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return cls(fd)

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def held(state_dir: Path) -> bool:
    """Whether a live process (its step, or an executor watching it) holds the lock."""
    if not (state_dir / LOCK).exists():
        return False
    lock = AttemptLock.take(state_dir)
    if lock is None:
        return True
    lock.release()
    return False


class Probe(enum.Enum):
    ALIVE = "alive"
    """Its step or its executor still runs (the lock is held)."""
    REPORTED = "reported"
    """The step published its outcome (the event is in the stream)."""
    LOST = "lost"
    """Nobody runs it and it never reported."""


def probe(state_dir: Path) -> Probe:
    if held(state_dir):
        return Probe.ALIVE
    if (state_dir / REPORTED).exists():
        return Probe.REPORTED
    return Probe.LOST


def read_identity(state_dir: Path) -> ProcessIdentity | None:
    try:
        raw = json.loads((state_dir / PID).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return ProcessIdentity(pid=raw, started=None, boot=None)  # old format: unverifiable
    return ProcessIdentity.from_json(raw) if isinstance(raw, dict) else None


def write_identity(state_dir: Path, pid: int) -> None:
    identity = ProcessIdentity.of(pid) or ProcessIdentity(pid=pid, started=None, boot=None)
    write_private(state_dir / PID, json.dumps(identity.to_json()))


def verified(identity: ProcessIdentity | None) -> bool:
    """The recorded process is provably the one running now (never trust a bare pid)."""
    return (
        identity is not None
        and identity.started is not None
        and identity.boot is not None
        and identity.alive()
    )


def read_exit(state_dir: Path) -> int | None:
    """The exit status the executor saw (negative: killed by that signal)."""
    try:
        raw = json.loads((state_dir / EXIT).read_text())
    except (OSError, ValueError):
        return None
    code = raw.get("code") if isinstance(raw, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def write_exit(state_dir: Path, code: int) -> None:
    write_private(state_dir / EXIT, json.dumps({"code": code}))


def read_text(path: Path, limit: int = 4096) -> str:
    try:
        return path.read_bytes()[:limit].decode(errors="replace").strip()
    except OSError:
        return ""


def log_tail(state_dir: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of the attempt's log (at most 8 KiB read)."""
    try:
        with (state_dir / LOG).open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
