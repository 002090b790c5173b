"""Process identity: a pid is only trusted together with its start time.

After a crash or a reboot a recorded pid can belong to anything, so every
pid runner writes down (step attempts, embedded nats-server, ``runner up``)
is stored as a :class:`ProcessIdentity` — pid, start time (clock ticks since
boot, from ``/proc/<pid>/stat``) and the boot id — and a process is only
signalled when all three still match. Where ``/proc`` is missing (macOS)
identity cannot be checked, and callers must not signal a process they did
not start themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ProcessIdentity", "alive", "boot_id", "start_time"]

_PROC = Path("/proc")


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None if gone or unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = (_PROC / str(pid) / "stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":  # a zombie has finished: it is not "running" any more
            return None
        return int(fields[19])
    return None


def boot_id() -> str | None:
    """This boot's id (changes on every reboot); None without procfs."""
    with contextlib.suppress(OSError):
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    return None


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (identity not checked)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _PROC.is_dir():
        return True
    return start_time(pid) is not None


@dataclass(frozen=True)
class ProcessIdentity:
    """Who a pid was when it was written down."""

    pid: int
    start: int | None
    boot: str | None

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        """The identity of the running process ``pid`` now."""
        return cls(pid=pid, start=start_time(pid), boot=boot_id())

    def verifiable(self) -> bool:
        return self.start is not None and self.boot is not None

    def is_running(self) -> bool:
        """The same process is still running: same pid, same start time, same boot.

        False when that cannot be proven (no procfs, or an identity recorded
        without a start time): never signal a process on a bare pid."""
        if not self.verifiable() or boot_id() != self.boot:
            return False
        return start_time(self.pid) == self.start

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProcessIdentity | None:
        """Parse :meth:`to_json` output; a bare pid (old format) has no start time."""
        try:
            raw = json.loads(text)
        except ValueError:
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return cls(pid=raw, start=None, boot=None)
        if not isinstance(raw, dict) or not isinstance(raw.get("pid"), int):
            return None
        start, boot = raw.get("start"), raw.get("boot")
        return cls(
            pid=raw["pid"],
            start=start if isinstance(start, int) else None,
            boot=boot if isinstance(boot, str) else None,
        )

    @classmethod
    def read(cls, path: Path) -> ProcessIdentity | None:
        try:
            return cls.from_json(path.read_text())
        except OSError:
            return None
