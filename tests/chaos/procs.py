"""The processes of a runner home, found in ``/proc`` and signalled by PID only.

A process belongs to the home if its command line or its working directory
names the home: ``runner up --home H``, its nats-server (``-c H/nats/...``),
the step processes (``--request H/executions/...``, cwd in the attempt's
folder) and whatever those start. Its identity is the PID plus the start
time, so a PID reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import wait_until


@dataclass(frozen=True)
class Proc:
    """A process seen in ``/proc``: its identity is the PID plus its start time."""

    pid: int
    start: int
    argv: tuple[str, ...]

    @property
    def kind(self) -> str:
        name = Path(self.argv[0]).name if self.argv else ""
        if name == "nats-server":
            return "nats-server"
        if "runner.step" in self.argv:
            return "step"
        if "up" in self.argv:
            return "runner up"
        return "other"

    def __str__(self) -> str:
        return f"{self.kind} pid {self.pid}"


def stat_of(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of ``pid``, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[19])


def _mentions(value: str, home: str) -> bool:
    return value == home or value.startswith(home + os.sep) or f"={home}" in value


def scan(home: Path) -> list[Proc]:
    """Live processes (zombies excluded) whose command line or cwd is in ``home``."""
    root = str(home.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        if not (any(_mentions(a, root) for a in argv) or _mentions(cwd, root)):
            continue
        stat = stat_of(pid)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        found.append(Proc(pid, stat[1], argv))
    return found


def alive(proc: Proc) -> bool:
    """Still running, and still the same process (not a reused PID, not a zombie)."""
    stat = stat_of(proc.pid)
    return stat is not None and stat[1] == proc.start and stat[0] not in ("Z", "X")


def signal_procs(procs: list[Proc], sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` to each process by PID, if it is still the process that was scanned."""
    for proc in procs:
        if alive(proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)


def wait_gone(procs: list[Proc], timeout: float, what: str) -> None:
    wait_until(
        lambda: not any(alive(p) for p in procs),
        f"{what} to be gone",
        timeout,
        detail=lambda: "still running: " + ", ".join(str(p) for p in procs if alive(p)),
    )
