"""One warm worker seen from the executor: its process, its socket, its forked children.

:class:`Zygote` talks to :mod:`runner.step.zygote` over a ``SOCK_SEQPACKET``
socket pair (one JSON message per packet; the attempt's log, lock and
pid-pipe fds ride along with ``SCM_RIGHTS``). :class:`WarmChild` is a forked
attempt with the ``pid`` / ``running`` / ``wait()`` of a process, so the local
executor supervises it like a cold one; :mod:`.warm` keeps the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.errors import ExecutorError
from runner.process_identity import ProcessIdentity

__all__ = ["ExitStatusUnknown", "Key", "WarmChild", "Zygote", "rss_mb", "short_digest"]

log = logging.getLogger(__name__)

FORK_TIMEOUT_SECONDS = 30.0
"""How long a fork may take to answer before its zygote is deemed stuck and killed."""
PRELOAD_WAIT_SECONDS = 60.0
"""How long a fork waits for its zygote to finish importing a component's module."""
STOP_GRACE_SECONDS = 2.0
_POLL = 0.1
_MAX_MESSAGE = 4 * 1024 * 1024

Key = tuple[str, str | None, str | None]
"""(step interpreter, code package digest or None)."""


class ExitStatusUnknown(ExecutorError):
    """A forked attempt ended while its zygote was dead: nobody could read its exit status."""


class WarmChild:
    """A forked attempt, supervised like a process: ``pid``, ``running`` and ``wait()``."""

    def __init__(self, pid: int, zygote: Zygote) -> None:
        self.pid = pid
        self.zygote = zygote
        self.identity = ProcessIdentity.of(pid)
        self._exit = zygote.exit_future(pid)

    @property
    def running(self) -> bool:
        if self._exit.done():
            return False
        if not self.zygote.dead.done():
            return True
        return self.identity is not None and self.identity.alive()

    async def wait(self) -> int:
        """The exit code (negative: killed by that signal), as the zygote reaped it.

        Raises :class:`ExitStatusUnknown` when the zygote died first: the child
        is then watched by its identity until it is gone."""
        if not self._exit.done():
            waits: set[asyncio.Future[Any]] = {self._exit, self.zygote.dead}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if self._exit.done():
            return self._done()
        while self.identity is not None and self.identity.alive():
            await asyncio.sleep(_POLL)
        if self._exit.done():  # the zygote's last message made it after all
            return self._done()
        raise ExitStatusUnknown(
            f"exit status unknown: its warm worker (pid {self.zygote.pid}) died while it ran"
        )

    def _done(self) -> int:
        self.zygote.forget(self.pid)
        return self._exit.result()


class Zygote:
    """The executor's side of one warm worker process."""

    def __init__(self, key: Key, process: asyncio.subprocess.Process, sock: socket.socket) -> None:
        self.key = key
        self.process = process
        self.pid = process.pid
        self.sock = sock
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[str | None] = loop.create_future()
        """Set when the runtime is imported: to the reason it refuses to fork, or None."""
        self.dead: asyncio.Future[None] = loop.create_future()
        self.refused: str | None = None
        self.retired = False
        """No new forks: stopped once its last child is gone."""
        self.stopping = False
        self.preloaded: set[str] = set()
        self.forks = 0
        self.pending = 0
        self.last_used = time.monotonic()
        self.started = datetime.now(UTC)
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._fork_errors: dict[int, asyncio.Future[str]] = {}
        self._preload_answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = 0

    @property
    def running(self) -> int:
        """Children that have not been reported as exited."""
        return sum(1 for f in self._exits.values() if not f.done())

    @property
    def idle(self) -> bool:
        return self.pending == 0 and self.running == 0

    @property
    def usable(self) -> bool:
        return (
            self.ready.done() and self.refused is None and not self.retired and not self.dead.done()
        )

    def exit_future(self, pid: int) -> asyncio.Future[int]:
        future = self._exits.get(pid)
        if future is None:
            future = self._exits[pid] = asyncio.get_running_loop().create_future()
        return future

    def forget(self, pid: int) -> None:
        """The exit status of ``pid`` was read: keep no record of it."""
        future = self._exits.get(pid)
        if future is not None and future.done():
            del self._exits[pid]

    def rss_mb(self) -> float | None:
        return rss_mb(self.pid)

    # -- messages from the zygote -------------------------------------------------------

    async def read_messages(self) -> None:
        """Until the zygote's socket closes: it exited, crashed or was killed."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    data = await loop.sock_recv(self.sock, _MAX_MESSAGE)
                except OSError:
                    break
                if not data:
                    break
                try:
                    message = json.loads(data)
                except ValueError:
                    log.warning("warm worker %d sent garbage: %r", self.pid, data[:200])
                    continue
                self._handle(message)
        finally:
            self._died()

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "ready" and not self.ready.done():
            self.refused = message.get("refused")
            self.ready.set_result(self.refused)
        elif op == "exit":
            future = self.exit_future(int(message["pid"]))
            if not future.done():
                future.set_result(int(message["code"]))
        elif op == "fork_failed":
            failed = self._fork_errors.get(int(message.get("id") or 0))
            if failed is not None and not failed.done():
                failed.set_result(str(message.get("error")))
        elif op == "preloaded":
            answer = self._preload_answers.pop(str(message.get("module")), None)
            if message.get("refused"):
                self.refused = str(message["refused"])
            if answer is not None and not answer.done():
                answer.set_result(message)

    def _died(self) -> None:
        if not self.dead.done():
            self.dead.set_result(None)
        if not self.ready.done():
            self.ready.set_exception(
                ExecutorError(f"warm worker {self.pid} exited before it was ready")
            )
            self.ready.exception()  # retrieved: whoever awaits it sees it too
        for answer in self._preload_answers.values():
            if not answer.done():
                answer.set_result({"error": "its warm worker died"})
        with contextlib.suppress(OSError):
            self.sock.close()

    # -- requests to the zygote -----------------------------------------------------------

    async def fork(
        self, request_path: Path, env: Mapping[str, str], cwd: Path, log_fd: int, lock_fd: int
    ) -> WarmChild | str:
        """Fork an attempt: the child, or why none started (the caller starts it cold)."""
        self.pending += 1  # busy from now on: never stopped as idle under a fork
        self.last_used = time.monotonic()
        try:
            busy = await self._preloads_done()
            if busy is not None:
                return busy
            if self.refused is not None:  # what it preloaded meanwhile made forking unsafe
                return f"its warm worker refuses to fork: {self.refused}"
            return await self._fork(request_path, env, cwd, log_fd, lock_fd)
        finally:
            self.pending -= 1

    async def _fork(
        self, request_path: Path, env: Mapping[str, str], cwd: Path, log_fd: int, lock_fd: int
    ) -> WarmChild | str:
        self._ids += 1
        ident = self._ids
        message = {"op": "fork", "id": ident, "request": str(request_path), "env": dict(env),
                   "cwd": str(cwd)}  # fmt: skip
        failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._fork_errors[ident] = failed
        read_end, write_end = os.pipe()
        try:
            try:
                await _send(self.sock, json.dumps(message).encode(), [log_fd, lock_fd, write_end])
            except OSError as exc:
                return f"cannot reach warm worker {self.pid}: {exc}"
            finally:
                os.close(write_end)
            pid = await self._child_pid(read_end)
            if pid is None:  # its answer says why, unless it died
                waits: set[asyncio.Future[Any]] = {failed, self.dead}
                await asyncio.wait(waits, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if failed.done():
                    return failed.result()
                return f"warm worker {self.pid} died before it forked"
        finally:
            os.close(read_end)
            self._fork_errors.pop(ident, None)
        self.forks += 1
        return WarmChild(pid, self)

    async def _preloads_done(self) -> str | None:
        """Wait (bounded) for the imports it is doing: a fork sent now would wait behind
        them, and one that never came back could only be ended by killing the zygote.
        None when it is free; else why the attempt starts cold (nothing was sent)."""
        pending = [a for a in self._preload_answers.values() if not a.done()]
        if not pending:
            return None
        # A zygote that dies answers them all (``_died``): no need to watch for that too.
        await asyncio.wait(pending, timeout=PRELOAD_WAIT_SECONDS)
        if self.dead.done():
            return f"its warm worker {self.pid} died while it preloaded"
        if any(not a.done() for a in pending):
            names = ", ".join(m for m, a in self._preload_answers.items() if not a.done())
            return f"its warm worker is still importing {names} after {PRELOAD_WAIT_SECONDS:g}s"
        return None

    async def _child_pid(self, read_end: int) -> int | None:
        """The pid the child wrote; None at EOF without one (no child started).

        Only the zygote (until it forked) and the child hold the write end, so
        EOF is definitive even if the zygote dies meanwhile."""
        try:
            raw = await asyncio.wait_for(_read_line(read_end), FORK_TIMEOUT_SECONDS)
        except TimeoutError:
            log.error("warm worker %d did not fork within %gs; killing it", self.pid,
                      FORK_TIMEOUT_SECONDS)  # fmt: skip
            self.kill()
            raw = await _read_line(read_end)
        try:
            return int(raw) if raw.strip() else None
        except ValueError:
            return None

    async def preload(self, root: Path | None, module: str) -> dict[str, Any]:
        """Import ``module`` from the code package at ``root`` in the zygote; its answer."""
        answer = self._preload_answers.get(module)
        if answer is None:
            answer = self._preload_answers[module] = asyncio.get_running_loop().create_future()
            try:
                await _send(self.sock, json.dumps({"op": "preload", "root": str(root or ""),
                                                   "module": module}).encode(), [])  # fmt: skip
            except OSError as exc:
                self._preload_answers.pop(module, None)
                return {"error": f"cannot reach warm worker {self.pid}: {exc}"}
        result = await asyncio.shield(answer)
        if not result.get("error") and not result.get("refused"):
            self.preloaded.add(module)
        return result

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Close its socket (it exits on EOF), SIGKILL it after ``grace``; its children live on."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.kill()
            await self.process.wait()

    def describe(self) -> dict[str, Any]:
        python, code, _environment = self.key
        return {
            "python": python,
            "code": short_digest(code),
            "pid": self.pid,
            "rss_mb": round(rss, 1) if (rss := self.rss_mb()) is not None else None,
            "forks": self.forks,
            "running": self.running,
            "preloaded": sorted(self.preloaded),
            "state": _state(self),
            "refused": self.refused,
            "started": self.started.isoformat(),
        }


def _state(zygote: Zygote) -> str:
    if zygote.dead.done():
        return "dead"
    if not zygote.ready.done():
        return "starting"
    if zygote.refused is not None:
        return "refusing"
    return "retiring" if zygote.retired else "ready"


def rss_mb(pid: int) -> float | None:
    """The resident memory of ``pid`` in MB (Linux), None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def short_digest(digest: str | None) -> str | None:
    return digest.removeprefix("sha256:")[:12] if digest else None


async def _send(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    """``sendmsg`` with ``SCM_RIGHTS`` on a non-blocking socket (waits while it is full)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            socket.send_fds(sock, [data], fds)
            return
        except BlockingIOError:
            writable: asyncio.Future[None] = loop.create_future()
            loop.add_writer(sock.fileno(), _settle, writable)
            try:
                await writable
            finally:
                loop.remove_writer(sock.fileno())


async def _read_line(fd: int) -> bytes:
    """Read ``fd`` (a pipe) until a newline or EOF."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    data = b""
    while b"\n" not in data:
        try:
            chunk = os.read(fd, 64)
        except BlockingIOError:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _settle, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
            continue
        if not chunk:
            break
        data += chunk
    return data


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
