"""``<data_dir>/nats-server.json``: which embedded nats-server runs, and for whom.

The record names the server process and its *owner* (the runner process that
started it and stops it: ``runner up``, a private ``runner run``, a test) by
:class:`~runner.process_identity.ProcessIdentity` — PID, start time and boot
id — plus the URL and port. Every later process reads it:

- :func:`discover` returns the URL only while the server *and* its owner are
  alive, so nobody adopts a server that no one will ever stop;
- :func:`stop_orphan` stops a server whose owner is gone (``kill -9`` of the
  command that started it) and clears the record, so it never blocks the next
  command;
- :func:`stop_discovered` stops the server whoever owns it (test clean-up).

A process is signalled only when its PID, start time and boot id all match
the record and ``/proc`` calls it a nats-server: a reused PID is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runner.process_identity import ProcessIdentity

__all__ = [
    "INFO_FILE",
    "ServerRecord",
    "clear_record",
    "discover",
    "read_record",
    "stop_discovered",
    "stop_orphan",
    "write_record",
]

log = logging.getLogger(__name__)

INFO_FILE = "nats-server.json"
_POLL = 0.02


@dataclass(frozen=True)
class ServerRecord:
    """A nats-server, its owner and where it listens."""

    server: ProcessIdentity
    owner: ProcessIdentity
    url: str
    port: int

    def server_alive(self) -> bool:
        """The recorded server process itself still runs (not a reused PID)."""
        return self.server.alive() and _is_nats_server(self.server.pid)

    def owner_alive(self) -> bool:
        return self.owner.alive()

    def orphaned(self) -> bool:
        """Running, but whoever started it is gone: nobody will ever stop it."""
        return self.server_alive() and not self.owner_alive()

    def to_json(self) -> dict[str, Any]:
        return {
            **self.server.to_json(),
            **self.owner.to_json("owner_"),
            "url": self.url,
            "port": self.port,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ServerRecord | None:
        server, owner = ProcessIdentity.from_json(raw), ProcessIdentity.from_json(raw, "owner_")
        url, port = raw.get("url"), raw.get("port")
        if server is None or owner is None or not isinstance(url, str):
            return None  # an older runner's record, or garbage: nothing to trust
        if not isinstance(port, int):
            port = urlsplit(url).port or 0
        return cls(server=server, owner=owner, url=url, port=port)


def read_record(data_dir: Path) -> ServerRecord | None:
    try:
        raw = json.loads((Path(data_dir) / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return ServerRecord.from_json(raw) if isinstance(raw, dict) else None


def write_record(data_dir: Path, record: ServerRecord) -> None:
    """Replace the record atomically (readers never see half a file)."""
    path = Path(data_dir) / INFO_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record.to_json()))
    tmp.replace(path)


def clear_record(data_dir: Path, server_pid: int | None = None) -> None:
    """Remove the record; with ``server_pid``, only if it still names that server."""
    path = Path(data_dir) / INFO_FILE
    if server_pid is not None:
        record = read_record(data_dir)
        if record is not None and record.server.pid != server_pid:
            return  # someone else's by now
    path.unlink(missing_ok=True)


def discover(data_dir: Path) -> str | None:
    """The URL of a live embedded server for ``data_dir`` whose owner is alive, else ``None``.

    An orphan (owner dead) is not returned: :func:`stop_orphan` replaces it."""
    record = read_record(Path(data_dir).resolve())
    if record is None or not record.server_alive() or not record.owner_alive():
        return None
    parsed = urlsplit(record.url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), 1):
            return record.url
    except OSError:
        return None


async def stop_orphan(data_dir: Path, grace: float = 5.0) -> ServerRecord | None:
    """Stop the recorded server if its owner is dead; return its record if one was stopped.

    A record whose server is gone too is stale and removed. A server whose
    owner lives is left alone (``None``)."""
    data_dir = Path(data_dir).resolve()
    record = read_record(data_dir)
    if record is None or record.owner_alive():
        return None
    if not record.server_alive():
        clear_record(data_dir, record.server.pid)
        return None
    log.warning(
        "stopping an orphaned nats-server (pid %d, %s) in %s: the runner process that "
        "started it (pid %d) is gone",
        record.server.pid,
        record.url,
        data_dir,
        record.owner.pid,
    )
    await terminate(record, grace)
    clear_record(data_dir, record.server.pid)
    return record


async def stop_discovered(data_dir: Path, grace: float = 5.0) -> bool:
    """Stop the embedded server another process started; ``False`` if none runs."""
    data_dir = Path(data_dir).resolve()
    record = read_record(data_dir)
    if record is None or not record.server_alive():
        clear_record(data_dir, record.server.pid if record else None)
        return False
    await terminate(record, grace)
    clear_record(data_dir, record.server.pid)
    return True


async def terminate(record: ServerRecord, grace: float) -> None:
    """SIGTERM the recorded server, SIGKILL it after ``grace``; only if it is still it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not record.server_alive():
            return
        _signal(record, sig)
        deadline = time.monotonic() + grace
        while record.server_alive() and time.monotonic() < deadline:
            await asyncio.sleep(_POLL)


def _signal(record: ServerRecord, sig: signal.Signals) -> None:
    """Send ``sig`` to the recorded server; through a pidfd where there is one, so
    the PID cannot be handed to another process between the check and the kill."""
    pid = record.server.pid
    if not hasattr(os, "pidfd_open"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        return
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # gone already (or not ours to open)
    try:
        if record.server_alive():  # checked after the fd pins the process
            with contextlib.suppress(ProcessLookupError, PermissionError):
                signal.pidfd_send_signal(fd, sig)
    finally:
        os.close(fd)


def _is_nats_server(pid: int) -> bool:
    """Where /proc tells: the process runs the nats-server binary."""
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): the identity check is all we have
    try:
        # A zombie has an empty cmdline, so it counts as gone.
        return b"nats-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
