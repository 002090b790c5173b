"""Who a recorded PID is: the PID, its start time and the boot it belongs to.

A PID alone names nobody once its process has ended: the kernel hands it out
again, and after a reboot it can belong to anything. A record that will be
used to *signal* or *trust* a process later (the embedded nats-server and its
owner, the ``runner up`` marker) therefore keeps the process's start time
(field 22 of ``/proc/<pid>/stat``, clock ticks since boot) and the boot id
(``/proc/sys/kernel/random/boot_id``), and :meth:`ProcessIdentity.alive`
answers only for that very process. A zombie counts as gone.

Without procfs (macOS) start time and boot id are unknown (``None``); the
check then falls back to "the PID exists", which is all that can be told.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ProcessIdentity", "boot_id", "start_time"]

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot's id (Linux), else ``None``."""
    with contextlib.suppress(OSError):
        return _BOOT_ID.read_text().strip() or None
    return None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain ") ".
    return stat.rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux); ``None`` if unknown."""
    fields = _stat_fields(pid)
    with contextlib.suppress(ValueError, IndexError, TypeError):
        return int(fields[19])  # type: ignore[index]
    return None


def _exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    fields = _stat_fields(pid)
    return fields is None or fields[0] not in ("Z", "X")


@dataclass(frozen=True)
class ProcessIdentity:
    """One process, told apart from any later process with the same PID."""

    pid: int
    started: int | None
    boot: str | None

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live process ``pid`` now; ``None`` if there is none."""
        if not _exists(pid):
            return None
        return cls(pid=pid, started=start_time(pid), boot=boot_id())

    @classmethod
    def current(cls) -> ProcessIdentity:
        """This process."""
        return cls(pid=os.getpid(), started=start_time(os.getpid()), boot=boot_id())

    def alive(self) -> bool:
        """This very process still runs: same PID, same boot, same start time."""
        if not _exists(self.pid):
            return False
        if self.boot is not None and self.boot != boot_id():
            return False  # recorded before a reboot: whatever has the PID now is another
        if self.started is None:
            return True  # no procfs when it was recorded: liveness is all we know
        return start_time(self.pid) == self.started

    def to_json(self, prefix: str = "") -> dict[str, Any]:
        """``{"<prefix>pid": ..., "<prefix>started": ..., "<prefix>boot_id": ...}``."""
        return {
            f"{prefix}pid": self.pid,
            f"{prefix}started": self.started,
            f"{prefix}boot_id": self.boot,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any], prefix: str = "") -> ProcessIdentity | None:
        """Read what :meth:`to_json` wrote; ``None`` when it is missing or malformed."""
        pid, started, boot = (raw.get(f"{prefix}{k}") for k in ("pid", "started", "boot_id"))
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return None
        if started is not None and (not isinstance(started, int) or isinstance(started, bool)):
            return None
        if boot is not None and not isinstance(boot, str):
            return None
        return cls(pid=pid, started=started, boot=boot)
