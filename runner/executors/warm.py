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
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.config import LocalExecutorSettings
from runner.errors import ExecutorError
from runner.executors.warm_worker import (
    ExitStatusUnknown,
    Key,
    WarmChild,
    Zygote,
    rss_mb,
    short_digest,
)
from runner.privacy import make_private_dir, write_private
from runner.step.main import CODE_CACHE_ENV, IMPORTS_FILE
from runner.step.request import StepRequest
from runner.step.zygote import TITLE_ROOM
from runner.store.keys import hex_digest
from runner.tasks import stop_tasks

__all__ = [
    "STATUS_FILE",
    "ExitStatusUnknown",
    "WarmChild",
    "WarmPool",
    "read_status",
    "rss_mb",
    "unsupported",
]  # fmt: skip  (re-exported from .warm_worker for the executor and the CLI)

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
"""``<home>/warm/status.json``: the warm workers, for ``runner up --status``."""
START_TIMEOUT_SECONDS = 60.0
"""How long a new zygote may take to import the step runtime."""
RETRY_SECONDS = 60.0
"""After a zygote failed to start, attempts of its key start cold this long."""

_MODULE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?")
"""A module name an attempt's ``imports.json`` may ask a zygote to import."""
_STARTUP_ENV = ("PYTHON", "LD_")
"""Variables read when an interpreter starts (``PYTHONPATH``, ``LD_PRELOAD``...): a task
that sets one starts cold, since a fork would not see them."""


@dataclass
class _KeyState:
    """What is known about one key across its zygotes' lives."""

    modules: dict[str, Path | None]
    """Component modules preloaded without harm: a new zygote preloads them at once."""
    unsafe: dict[str, str]
    """Component modules whose preload made forking unsafe, and why: they start cold."""
    failed: dict[str, str] = field(default_factory=dict)
    """Component modules whose import failed in a zygote (their attempts import them
    after the fork, with their own environment): not tried again."""
    failed_until: float = 0.0
    failure: str | None = None
    restarts: int = 0
    """Its zygotes that died unasked (crashed, killed)."""


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
        code = request.code.digest if request.code else None
        return (request.python or self.python, code, request.environment)

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
        startup = sorted(k for k in request.task.env if k.startswith(_STARTUP_ENV))
        if startup:
            return (
                f"task '{request.task.name}' sets {', '.join(startup)}, which an interpreter "
                "reads only when it starts"
            )
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

    async def _preload(
        self, zygote: Zygote, state: _KeyState, root: Path | None, module: str
    ) -> bool:
        """Import ``module`` into ``zygote``; False (the zygote retired) if that made it unsafe."""
        answer = await zygote.preload(root, module)
        if answer.get("refused"):
            state.unsafe[module] = str(answer["refused"])
            state.modules.pop(module, None)
            log.warning("local executor: %s is not preloaded into warm workers, so its attempts "
                        "start cold: %s", module, answer["refused"])  # fmt: skip
            self._retire(zygote)
            return False
        if answer.get("error"):
            state.failed[module] = str(answer["error"])
            log.info("local executor: %s is not preloaded into warm workers (its import "
                     "failed there: %s); its attempts import it after the fork", module,
                     answer["error"])  # fmt: skip
        else:
            state.modules[module] = root
        return True

    async def _launch(self, key: Key, base_env: Mapping[str, str]) -> Zygote:
        make_private_dir(self.dir)
        python, _, _ = key
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
        args.append("--title-room=" + " " * TITLE_ROOM)
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
            became_ready = zygote.ready.done() and zygote.ready.exception() is None
            if not self._closed and not zygote.retired and became_ready:  # else _start says why
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
            and module not in state.unsafe and module not in state.failed and root.is_dir()
        ):  # fmt: skip
            await self._preload(zygote, state, root, module)
        if state is not None and request.component.warm and not zygote.retired:
            await self._preload_imports(zygote, state, request, root)
        rss = zygote.rss_mb()
        if rss is not None and rss > self.settings.warm_max_rss_mb and not zygote.retired:
            log.info("local executor: warm worker %d uses %.0f MB (> warm_max_rss_mb %d); "
                     "restarting it", zygote.pid, rss, self.settings.warm_max_rss_mb)  # fmt: skip
            self._retire(zygote)
        self._stop_idle_retired()
        self._write_status()

    async def _preload_imports(
        self, zygote: Zygote, state: _KeyState, request: StepRequest, root: Path | None
    ) -> None:
        """Preload what the attempt's component imported (its body's ``import sklearn``
        too, as KFP-style components do), so the next attempts find it imported."""
        if not request.state_dir:
            return
        try:
            names = json.loads((Path(request.state_dir) / IMPORTS_FILE).read_text())
        except (OSError, ValueError):
            return
        if not isinstance(names, list):
            return
        for name in names:
            if not isinstance(name, str) or not _MODULE_NAME.fullmatch(name):
                continue  # the file is written by a step: never trusted to name more
            if name in zygote.preloaded or name in state.unsafe or name in state.failed:
                continue
            if not await self._preload(zygote, state, root, name) or zygote.retired:
                return

    def _retire(self, zygote: Zygote) -> None:
        """No more forks from it; stopped as soon as it has no child left."""
        zygote.retired = True
        if self._zygotes.get(zygote.key) is zygote:
            del self._zygotes[zygote.key]
        self._stop_idle_retired()

    def _stop_idle_retired(self) -> None:
        for zygote in list(self._all):
            if zygote.retired and zygote.idle and not zygote.dead.done() and not zygote.stopping:
                zygote.stopping = True
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
        await stop_tasks(list(self._starting.values()))  # a zygote still starting is in _all
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
            "restarts": sum(state.restarts for state in self._keys.values()),
        }
        with contextlib.suppress(OSError):
            make_private_dir(self.dir)
            write_private(self.dir / STATUS_FILE, json.dumps(status, indent=1))


def unsupported() -> str | None:
    """Why warm workers cannot run on this platform; None where they can (Linux)."""
    if not sys.platform.startswith("linux"):
        return f"warm workers need Linux (SCM_RIGHTS over SOCK_SEQPACKET), not {sys.platform}"
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
    python, code, environment = key
    text = f"{python}\0{code or ''}\0{environment or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _describe_key(key: Key) -> str:
    python, code, environment = key
    built = f" (environment build {short_digest(environment)})" if environment else ""
    return f"{python}{built} with code {short_digest(code) or '(none)'}"


def _status_text(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"
