"""Warm workers (zygotes) for the local executor: attempts forked from a preloaded process.

A fresh ``python -m runner.step`` spends most of its start importing the step
runtime. A warm worker (:mod:`runner.step.zygote`) has imported it already,
and, after the first attempt of a code package ended, the component modules
of that package too; an attempt is then a ``fork()`` of it. There is one per
(step interpreter, code package digest), at most ``warm_max`` of them (the
least recently used idle one is stopped for a new one; when all are busy an
attempt starts cold), and one whose memory passes ``warm_max_rss_mb`` is
restarted once idle.

A forked attempt is supervised like a cold one (:class:`WarmChild` has the
``pid`` and ``wait()`` of a process): the executor writes its identity file,
kills its process group on a timeout or a cancel, and reads its exit status,
which the zygote relays after reaping it. If the zygote dies while children
run, each child is watched through its :class:`ProcessIdentity` until it is
gone; its exit status is then unknown (:class:`ExitStatusUnknown`), and the
next attempt starts a new zygote.

An attempt starts cold instead (and the reason is logged once) when warm
workers are off (``RUNNER_WARM=0``), the component says ``warm=False``, its
module started a thread, loaded CUDA or installed signal handlers while
preloaded (the zygote then refuses to fork and is replaced by one that does
not preload that module), the zygote cannot start, or all ``warm_max``
zygotes are busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.config import LocalExecutorSettings
from runner.errors import ExecutorError
from runner.privacy import make_private_dir, write_private
from runner.process_identity import ProcessIdentity
from runner.step.main import CODE_CACHE_ENV
from runner.step.request import StepRequest
from runner.store.keys import hex_digest
from runner.tasks import stop_tasks

__all__ = [
    "STATUS_FILE", "ExitStatusUnknown", "WarmChild", "WarmPool", "read_status", "rss_mb",
]  # fmt: skip

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
"""``<home>/warm/status.json``: the warm workers, for ``runner up --status``."""
START_TIMEOUT_SECONDS = 60.0
"""How long a new zygote may take to import the step runtime."""
FORK_TIMEOUT_SECONDS = 30.0
"""How long a fork may take to answer before its zygote is deemed stuck and killed."""
RETRY_SECONDS = 60.0
"""After a zygote failed to start, attempts of its key start cold this long."""
STOP_GRACE_SECONDS = 2.0
_POLL = 0.1
_MAX_MESSAGE = 4 * 1024 * 1024

Key = tuple[str, str | None]
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
        self.preloaded: set[str] = set()
        self.forks = 0
        self.pending = 0
        self.last_used = time.monotonic()
        self.started = datetime.now(UTC)
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._fork_errors: dict[int, str] = {}
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
            self._fork_errors[int(message.get("id") or 0)] = str(message.get("error"))
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
        self._ids += 1
        ident = self._ids
        message = {"op": "fork", "id": ident, "request": str(request_path), "env": dict(env),
                   "cwd": str(cwd)}  # fmt: skip
        read_end, write_end = os.pipe()
        self.pending += 1
        self.last_used = time.monotonic()
        try:
            try:
                await _send(self.sock, json.dumps(message).encode(), [log_fd, lock_fd, write_end])
            except OSError as exc:
                return f"cannot reach warm worker {self.pid}: {exc}"
            finally:
                os.close(write_end)
            pid = await self._child_pid(read_end)
        finally:
            os.close(read_end)
            self.pending -= 1
        if pid is None:
            return self._fork_errors.pop(ident, f"warm worker {self.pid} died before it forked")
        self.forks += 1
        return WarmChild(pid, self)

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

    async def preload(self, root: Path, module: str) -> dict[str, Any]:
        """Import ``module`` from the code package at ``root`` in the zygote; its answer."""
        answer = self._preload_answers.get(module)
        if answer is None:
            answer = self._preload_answers[module] = asyncio.get_running_loop().create_future()
            try:
                await _send(self.sock, json.dumps({"op": "preload", "root": str(root),
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
        python, code = self.key
        return {
            "python": python,
            "code": _short(code),
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


@dataclass
class _KeyState:
    """What is known about one key across its zygotes' lives."""

    modules: dict[str, Path]
    """Component modules preloaded without harm: a new zygote preloads them at once."""
    unsafe: dict[str, str]
    """Component modules whose preload made forking unsafe, and why: they start cold."""
    failed_until: float = 0.0
    failure: str | None = None
    restarts: int = 0


class WarmPool:
    """The warm workers of one local executor: start, fork, preload, bound, stop."""

    def __init__(
        self, *, settings: LocalExecutorSettings, home: Path, python: str, extra_preload: list[str]
    ) -> None:
        self.settings = settings
        self.dir = home / "warm"
        self.python = python
        self.extra_preload = extra_preload
        self._zygotes: dict[Key, Zygote] = {}
        """The zygote serving each key (at most one)."""
        self._all: set[Zygote] = set()
        """Every live zygote, retired ones too (they still relay their children's exits)."""
        self._starting: dict[Key, asyncio.Task[Zygote | str]] = {}
        self._keys: dict[Key, _KeyState] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._said: set[tuple[Key, str]] = set()
        self.cold_starts: dict[str, int] = {}
        """Why attempts started cold, counted (tests and the status read it)."""
        self._closed = False

    # -- launching ----------------------------------------------------------------------

    def key_of(self, request: StepRequest) -> Key:
        return (request.python or self.python, request.code.digest if request.code else None)

    async def fork(
        self, request: StepRequest, *, request_path: Path, env: Mapping[str, str],
        base_env: Mapping[str, str], cwd: Path, log_fd: int, lock_fd: int,
    ) -> WarmChild | None:  # fmt: skip
        """Fork the attempt from its key's zygote; None: start it cold (the reason is logged)."""
        key = self.key_of(request)
        reason = self._cold_reason(request, key)
        if reason is None:
            zygote = await self._zygote(key, base_env)
            if isinstance(zygote, Zygote):
                child = await zygote.fork(request_path, env, cwd, log_fd, lock_fd)
                if isinstance(child, WarmChild):
                    self._write_status()
                    return child
                reason = child
            else:
                reason = zygote
        self._cold(key, reason)
        return None

    def _cold_reason(self, request: StepRequest, key: Key) -> str | None:
        if self._closed:
            return "the executor is closing"
        if not request.component.warm:
            return f"component '{request.component.name}' opted out (warm=False)"
        state = self._keys.get(key)
        module = _module_of(request)
        if state is not None:
            if module is not None and module in state.unsafe:
                return f"preloading its module {module} made forking unsafe: {state.unsafe[module]}"
            if state.failed_until > time.monotonic():
                return f"its warm worker could not start: {state.failure}"
        return None

    def _cold(self, key: Key, reason: str) -> None:
        short = reason.split(":")[0]
        self.cold_starts[short] = self.cold_starts.get(short, 0) + 1
        if (key, reason) not in self._said:  # once per key and reason: not once per step
            self._said.add((key, reason))
            log.info("local executor: starting an attempt cold (no warm worker): %s", reason)

    async def _zygote(self, key: Key, base_env: Mapping[str, str]) -> Zygote | str:
        zygote = self._zygotes.get(key)
        if zygote is not None and zygote.usable:
            return zygote
        if zygote is not None:
            self._retire(zygote)
        task = self._starting.get(key)
        if task is None:
            if not self._make_room():
                return f"all {self.settings.warm_max} warm workers are busy (warm_max)"
            task = self._spawn(self._start(key, base_env))
            self._starting[key] = task
            task.add_done_callback(lambda _t: self._starting.pop(key, None))
        return await asyncio.shield(task)

    def _make_room(self) -> bool:
        """Below ``warm_max`` zygotes, stopping the least recently used idle one if needed."""
        live = [z for z in self._all if not z.dead.done()]
        if len(live) + len(self._starting) < self.settings.warm_max:
            return True
        idle = sorted((z for z in live if z.idle), key=lambda z: z.last_used)
        if not idle:
            return False
        self._retire(idle[0])
        return True

    async def _start(self, key: Key, base_env: Mapping[str, str]) -> Zygote | str:
        state = self._keys.setdefault(key, _KeyState(modules={}, unsafe={}))
        zygote: Zygote | None = None
        try:
            zygote = await self._launch(key, base_env)
            refused = await asyncio.wait_for(asyncio.shield(zygote.ready), START_TIMEOUT_SECONDS)
        except (OSError, ExecutorError, TimeoutError) as exc:
            state.failed_until = time.monotonic() + RETRY_SECONDS
            state.failure = str(exc) or f"it did not start within {START_TIMEOUT_SECONDS:g}s"
            log.error("local executor: warm worker for %s did not start: %s; attempts start "
                      "cold for %gs (its log: %s)", _describe_key(key), state.failure,
                      RETRY_SECONDS, self._log_path(key))  # fmt: skip
            if zygote is not None:
                zygote.retired = True
                await zygote.stop(grace=0)
            return f"its warm worker could not start: {state.failure}"
        if refused is not None:
            state.failed_until = time.monotonic() + RETRY_SECONDS
            state.failure = f"it refuses to fork: {refused}"
            log.warning("local executor: warm worker for %s refuses to fork: %s; attempts "
                        "start cold for %gs", _describe_key(key), refused,
                        RETRY_SECONDS)  # fmt: skip
            self._retire(zygote)
            return f"its warm worker refuses to fork: {refused}"
        for module, root in list(state.modules.items()):  # what its predecessor had preloaded
            if not await self._preload(zygote, state, root, module):
                return f"preloading its module {module} made forking unsafe: {state.unsafe[module]}"
        self._zygotes[key] = zygote
        self._write_status()
        return zygote

    async def _preload(self, zygote: Zygote, state: _KeyState, root: Path, module: str) -> bool:
        """Import ``module`` into ``zygote``; False (the zygote retired) if that made it unsafe."""
        answer = await zygote.preload(root, module)
        if answer.get("refused"):
            state.unsafe[module] = str(answer["refused"])
            state.modules.pop(module, None)
            log.warning("local executor: %s is not preloaded into warm workers, so its attempts "
                        "start cold: %s", module, answer["refused"])  # fmt: skip
            self._retire(zygote)
            return False
        if not answer.get("error"):
            state.modules[module] = root
        return True

    async def _launch(self, key: Key, base_env: Mapping[str, str]) -> Zygote:
        make_private_dir(self.dir)
        python, _ = key
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**base_env, "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": ""}
        args = [
            "-m",
            "runner.step.zygote",
            "--fd",
            str(child.fileno()),
            "--parent",
            str(os.getpid()),
        ]
        for module in self.extra_preload:
            args += ["--preload", module]
        fd = os.open(self._log_path(key), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                python, *args, stdin=asyncio.subprocess.DEVNULL, stdout=fd,
                stderr=asyncio.subprocess.STDOUT, env=env, cwd=str(self.dir),
                start_new_session=True, pass_fds=(child.fileno(),),
            )  # fmt: skip
        except OSError:
            parent.close()
            raise
        finally:
            os.close(fd)
            child.close()
        parent.setblocking(False)
        zygote = Zygote(key, process, parent)
        self._all.add(zygote)
        self._spawn(self._serve(zygote))
        return zygote

    async def _serve(self, zygote: Zygote) -> None:
        try:
            await zygote.read_messages()
        finally:
            with contextlib.suppress(ProcessLookupError):
                zygote.process.kill()  # its socket is closed: whatever is left of it goes
            code = await zygote.process.wait()
            self._all.discard(zygote)
            if self._zygotes.get(zygote.key) is zygote:
                del self._zygotes[zygote.key]
            if not self._closed and not zygote.retired:
                self._keys.setdefault(zygote.key, _KeyState(modules={}, unsafe={})).restarts += 1
                log.warning("local executor: warm worker %d for %s died (%s); its running "
                            "attempts are watched to their end and the next attempt starts a "
                            "new one", zygote.pid, _describe_key(zygote.key),
                            _status_text(code))  # fmt: skip
            self._write_status()

    def _log_path(self, key: Key) -> Path:
        return self.dir / f"{_key_id(key)}.log"

    # -- after an attempt ---------------------------------------------------------------

    async def attempt_ended(self, request: StepRequest, env: Mapping[str, str]) -> None:
        """Preload the attempt's component module into its zygote; restart a bloated one."""
        key = self.key_of(request)
        zygote = self._zygotes.get(key)
        if zygote is None or not zygote.usable:
            self._stop_idle_retired()
            return
        module, state = _module_of(request), self._keys.get(key)
        root = _code_root(request, env)
        if (
            module is not None and state is not None and root is not None
            and request.component.warm and module not in zygote.preloaded
            and module not in state.unsafe and root.is_dir()
        ):  # fmt: skip
            await self._preload(zygote, state, root, module)
        rss = zygote.rss_mb()
        if rss is not None and rss > self.settings.warm_max_rss_mb and not zygote.retired:
            log.info("local executor: warm worker %d uses %.0f MB (> warm_max_rss_mb %d); "
                     "restarting it", zygote.pid, rss, self.settings.warm_max_rss_mb)  # fmt: skip
            self._retire(zygote)
        self._stop_idle_retired()
        self._write_status()

    def _retire(self, zygote: Zygote) -> None:
        """No more forks from it; stopped as soon as it has no child left."""
        zygote.retired = True
        if self._zygotes.get(zygote.key) is zygote:
            del self._zygotes[zygote.key]
        self._stop_idle_retired()

    def _stop_idle_retired(self) -> None:
        for zygote in list(self._all):
            if zygote.retired and zygote.idle and not zygote.dead.done():
                self._spawn(zygote.stop())

    # -- lifecycle and status -----------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name="local-warm-worker")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cold_modules(self) -> dict[str, str]:
        """Component modules that start cold because preloading them was unsafe, and why."""
        return {m: why for state in self._keys.values() for m, why in state.unsafe.items()}

    def pids(self) -> list[int]:
        return sorted(z.pid for z in self._all if not z.dead.done())

    def describe(self) -> list[dict[str, Any]]:
        return [z.describe() for z in sorted(self._all, key=lambda z: z.started)]

    async def aclose(self) -> None:
        """Stop every zygote (their running children are the executor's business)."""
        self._closed = True
        for task in list(self._starting.values()):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        zygotes = list(self._all)
        for zygote in zygotes:
            zygote.retired = True
        await asyncio.gather(*(z.stop() for z in zygotes), return_exceptions=True)
        await stop_tasks(self._tasks)
        with contextlib.suppress(OSError):
            (self.dir / STATUS_FILE).unlink()

    def _write_status(self) -> None:
        if self._closed:
            return
        status = {
            "executor_pid": os.getpid(),
            "updated": datetime.now(UTC).isoformat(),
            "enabled": self.settings.warm,
            "max": self.settings.warm_max,
            "max_rss_mb": self.settings.warm_max_rss_mb,
            "zygotes": self.describe(),
            "cold_starts": dict(self.cold_starts),
        }
        with contextlib.suppress(OSError):
            make_private_dir(self.dir)
            write_private(self.dir / STATUS_FILE, json.dumps(status, indent=1))


def rss_mb(pid: int) -> float | None:
    """The resident memory of ``pid`` in MB (Linux), None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_status(home: Path) -> dict[str, Any] | None:
    """What the executor of ``home`` last wrote about its warm workers (None: nothing)."""
    try:
        raw = json.loads((home / "warm" / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _module_of(request: StepRequest) -> str | None:
    entrypoint = request.component.entrypoint
    if request.component.kind != "python" or not entrypoint:
        return None
    return entrypoint.partition(":")[0]


def _code_root(request: StepRequest, env: Mapping[str, str]) -> Path | None:
    """Where the step extracted its code package (as ``runner.step.main`` computes it)."""
    if request.code is None:
        return None
    cache = env.get(CODE_CACHE_ENV) or str(Path(tempfile.gettempdir()) / "runner-code")
    try:
        return Path(cache) / hex_digest(request.code.digest, "code package digest")
    except Exception:  # a malformed digest: the step itself reports it
        return None


def _key_id(key: Key) -> str:
    python, code = key
    return hashlib.sha256(f"{python}\0{code or ''}".encode()).hexdigest()[:12]


def _describe_key(key: Key) -> str:
    python, code = key
    return f"{python} with code {_short(code) or '(none)'}"


def _short(digest: str | None) -> str | None:
    return digest.removeprefix("sha256:")[:12] if digest else None


def _status_text(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


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
