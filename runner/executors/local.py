"""Local executor: one process per step attempt, forked warm or started cold.

The embedded default. An attempt is a fork of a warm worker that has the step
runtime (and, after the first attempt of a code package, the component's
module) imported already (:mod:`.warm`), or — warm workers off, the component
opted out, or no warm worker fit — a new interpreter, ``python -m runner.step``.
Both are supervised the same way (an :class:`AttemptProcess`). Attempts are claimed atomically in
``<home>/executions/<run>/<step>/<attempt>/`` (``mkdir`` is atomic; see
:mod:`.local_attempts` for what the directory holds), so a second launch of
the same attempt — a redelivered event, a restarted or a second controller —
adopts it instead of starting another. The claim's ``flock`` is inherited by
the step process, so whether an attempt is still alive is known after any
crash without trusting a pid.

Every attempt ends in a report: the step publishes its own outcome and
writes ``reported``; an attempt that ends without it (killed, segfault, OOM,
timeout) is reported here as ``step.failed`` with the exit code or signal.
:meth:`reconcile` covers attempts nobody watched — their controller crashed,
or the machine did — and reports those that died as ``Lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from runner.config import LocalExecutorSettings
from runner.errors import ExecutorError
from runner.events.auth import TOKEN_ENV, ReportKeys
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, StepFailed
from runner.executors import local_attempts as files
from runner.executors.base import LOST_REASON, AttemptInfo, Publish
from runner.executors.gpus import GpuPool, detect_gpus
from runner.executors.local_attempts import AttemptLock, Probe
from runner.executors.warm import ExitStatusUnknown, WarmPool
from runner.executors.warm import unsupported as warm_unsupported
from runner.step.request import StepRequest
from runner.store.base import ArtifactStore
from runner.store.keys import log_key
from runner.tasks import stop_tasks

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0
CLOSE_GRACE_SECONDS = 2.0
"""How long steps get to handle SIGTERM when their controller shuts down."""
REPORTED_MARKER = files.REPORTED
CONTROLLER_STOPPED = "ControllerStopped"
REPORT_DEADLINE_SECONDS = 120.0
"""How long a failure report is retried while NATS is unreachable."""
_WATCH_POLL = 0.25
_SETTLE = 0.5
"""A lock found free is checked again after this long: another executor may be
between its ``mkdir`` claim and its ``flock``."""


class AttemptProcess(Protocol):
    """A running attempt, however it was started: a cold subprocess or a warm fork.

    ``pid`` leads the attempt's own process group (timeouts and cancels kill the
    group); ``wait()`` returns the exit code, negative for the signal that killed
    it, or raises :class:`~.warm.ExitStatusUnknown` when nobody could read it."""

    @property
    def pid(self) -> int: ...

    @property
    def running(self) -> bool: ...

    async def wait(self) -> int: ...


class _ColdProcess:
    """``python -m runner.step`` as a child of this process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid = process.pid

    @property
    def running(self) -> bool:
        return self._process.returncode is None

    async def wait(self) -> int:
        return await self._process.wait()


@dataclass
class _Attempt:
    request: StepRequest
    state_dir: Path
    lock: AttemptLock
    process: AttemptProcess | None = None
    stop_reason: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class LocalExecutor:
    """Runs attempts as local processes with a concurrency limit and GPU slots."""

    name = "local"

    def __init__(
        self,
        *,
        home: Path,
        store: ArtifactStore,
        publish: Publish,
        settings: LocalExecutorSettings | None = None,
        python: str = sys.executable,
        kill_on_close: bool = True,
        keys: ReportKeys | None = None,
        secret_env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings or LocalExecutorSettings()
        self.home = home.resolve()
        self.store = store
        self.publish = publish
        self.python = python
        self.kill_on_close = kill_on_close
        self.keys = keys
        """Derives each attempt's report token (None: steps report unsigned)."""
        self.secret_env = dict(secret_env or {})
        """Credentials for the step's environment: never written to a request file."""
        self.gpus = GpuPool(detect_gpus(self.settings.gpus))
        self._slots = asyncio.Semaphore(self.settings.concurrency or os.cpu_count() or 1)
        self._attempts: dict[str, _Attempt] = {}
        self._watching: dict[str, asyncio.Task[None]] = {}
        """Attempts started elsewhere (another controller, before a crash) being watched."""
        self._cancelled: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.launched = 0
        """Processes actually started by this executor (tests and benchmarks read it)."""
        self.lost = 0
        """Attempts this executor reported as lost (tests read it)."""
        self.warm: WarmPool | None = None
        """The warm workers attempts are forked from (None: ``RUNNER_WARM=0``)."""
        if self.settings.warm and (why := warm_unsupported()) is not None:
            log.info("local executor: every step starts a new interpreter: %s", why)
        elif self.settings.warm:
            s3 = getattr(store, "uri", "").startswith("s3://")
            self.warm = WarmPool(
                settings=self.settings, home=self.home, python=python,
                extra_preload=["runner.store.s3"] if s3 else [],
            )  # fmt: skip

    # -- the Executor interface -------------------------------------------------

    async def launch(self, request: StepRequest) -> str:
        launch_id = _launch_id(request)
        if launch_id in self._attempts or launch_id in self._watching:
            return launch_id
        state_dir = self._dir(request.run_id, request.step, request.attempt)
        state_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            state_dir.mkdir(mode=0o700)
        except FileExistsError:
            self._watch(_info(request), state_dir)
            return launch_id
        lock = AttemptLock.take(state_dir)
        if lock is None:  # cannot happen for a directory we just made, but never run twice
            self._watch(_info(request), state_dir)
            return launch_id
        request = request.model_copy(update={"state_dir": str(state_dir)})
        attempt = _Attempt(request=request, state_dir=state_dir, lock=lock)
        self._attempts[launch_id] = attempt
        self._spawn(self._supervise(attempt), f"local-step:{launch_id}")
        return launch_id

    async def stop(self, attempt: AttemptInfo) -> None:
        key = attempt.key
        current = self._attempts.get(key)
        if current is not None:
            current.stop_reason = "Cancelled"
            if current.process is not None and current.process.running:
                await _terminate(current.process.pid)
            return
        self._cancelled.add(key)
        state_dir = self._dir(attempt.run_id, attempt.step, attempt.attempt)
        identity = files.read_identity(state_dir)
        if files.verified(identity):
            assert identity is not None
            await _terminate(identity.pid, verify=identity.alive)
        elif files.held(state_dir):
            log.warning(
                "cannot stop %s: another executor holds it and its pid cannot be verified; "
                "it is reported when it ends",
                key,
            )
        # Whatever ran is gone now (or is watched): the watch reports it as cancelled.
        if not state_dir.is_dir():
            error = _cancelled(attempt.step, "it had not started")
            await self._report_failure(attempt, error, None)
            return
        self._watch(attempt, state_dir)

    async def reconcile(self, attempts: Sequence[AttemptInfo]) -> None:
        for info in attempts:
            if info.key in self._attempts or info.key in self._watching:
                continue
            state_dir = self._dir(info.run_id, info.step, info.attempt)
            if state_dir.is_dir():  # else never claimed here: its launch report is on its way
                self._watch(info, state_dir)

    async def aclose(self) -> None:
        if self.kill_on_close:
            await self._stop_all()
        await stop_tasks(self._tasks)
        for attempt in self._attempts.values():
            attempt.lock.release()
        if self.warm is not None:  # after the attempts: a zygote relays their exits
            await self.warm.aclose()

    async def wait_idle(self) -> None:
        """Wait until every attempt this executor started or watches has been reported."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- supervision --------------------------------------------------------------

    def _dir(self, run_id: str, step: str, attempt: int) -> Path:
        return self.home / "executions" / run_id / step / str(attempt)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _stop_all(self) -> None:
        """Our controller shuts down: SIGTERM our steps, SIGKILL them after a grace.

        ``stopped`` tells the next controller why they ended: it relaunches them."""
        running = [
            a for a in self._attempts.values() if a.process is not None and a.process.running
        ]
        for attempt in running:
            attempt.stop_reason = CONTROLLER_STOPPED
            with contextlib.suppress(OSError):
                files.write_private(attempt.state_dir / files.STOPPED, CONTROLLER_STOPPED)
        await asyncio.gather(
            *(_terminate(a.process.pid, grace=CLOSE_GRACE_SECONDS) for a in running if a.process)
        )

    async def _supervise(self, attempt: _Attempt) -> None:
        req = attempt.request
        log_path = attempt.state_dir / files.LOG
        started = time.monotonic()
        try:
            try:
                async with self._slots:
                    error = await self._run_process(attempt, log_path)
            except Exception as exc:  # the executor must report, whatever went wrong
                log.exception("local executor: attempt %s failed to run", _launch_id(req))
                error = ErrorInfo(reason="LaunchFailed", message=f"{type(exc).__name__}: {exc}")
            finally:
                attempt.done.set()
            await self._upload_log(req.run_id, req.step, req.attempt, log_path)
            if error is not None and not (attempt.state_dir / REPORTED_MARKER).exists():
                await self._report_failure(_info(req), error, time.monotonic() - started)
                _mark_reported(attempt.state_dir)
        finally:
            # Released only now: until the outcome is reported, the attempt is "alive".
            attempt.lock.release()
            self._attempts.pop(_launch_id(req), None)

    async def _run_process(self, attempt: _Attempt, log_path: Path) -> ErrorInfo | None:
        req = attempt.request
        gpu = req.task.resources.gpu
        warning = None
        if gpu > self.gpus.total:
            if self.gpus.total > 0 or self.settings.strict_gpu:
                have = self.gpus.total
                return ErrorInfo(
                    reason="NoGPU",
                    message=f"step '{req.step}' asks for {gpu} GPU(s) but this machine has {have}"
                    + ("" if have else "; unset RUNNER_LOCAL_STRICT_GPU to run it on the CPU"),
                )
            message = (
                f"step '{req.step}' asks for {gpu} GPU(s) but none was detected; "
                "running on the CPU (set RUNNER_LOCAL_STRICT_GPU=1 to refuse instead)"
            )
            log.warning(message)
            warning = f"WARNING: {message}\n"
            gpu = 0
        async with self.gpus.acquire(gpu) as devices:
            env = self._environment(req, devices)
            request_path = attempt.state_dir / files.REQUEST
            files.write_private(request_path, req.model_dump_json(indent=1))
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as logfile:
                if warning:
                    logfile.write(warning.encode())
                    logfile.flush()
                if attempt.stop_reason is not None:
                    return _stopped(attempt, "before it started")
                process = await self._start(attempt, request_path, env, logfile.fileno())
                attempt.process = process
                self.launched += 1
                files.write_identity(attempt.state_dir, process.pid)
                if attempt.stop_reason is not None:  # stopped while it was starting
                    await _terminate(process.pid)
                error = await self._wait(attempt, process)
                if self.warm is not None:  # preload its module for the next attempts
                    self._spawn(self.warm.attempt_ended(req, env), "local-warm-preload")
                return error

    async def _start(
        self, attempt: _Attempt, request_path: Path, env: dict[str, str], log_fd: int
    ) -> AttemptProcess:
        """Fork the attempt from a warm worker, or start a new interpreter for it."""
        req = attempt.request
        if self.warm is not None:
            try:
                child = await self.warm.fork(
                    req, request_path=request_path, env=env, base_env=self._base_environment(req),
                    cwd=attempt.state_dir, log_fd=log_fd, lock_fd=attempt.lock.fd,
                )  # fmt: skip
            except Exception:  # no child was started: a warm worker's fault costs a cold start
                log.exception("local executor: warm start of %s failed; starting it cold",
                              _launch_id(req))  # fmt: skip
                child = None
            if child is not None:
                return child
        proc = await asyncio.create_subprocess_exec(
            req.python or self.python, "-m", "runner.step", "--request", str(request_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=log_fd,
            stderr=asyncio.subprocess.STDOUT, env=env, cwd=str(attempt.state_dir),
            start_new_session=True, pass_fds=(attempt.lock.fd,),
        )  # fmt: skip
        return _ColdProcess(proc)

    async def _wait(self, attempt: _Attempt, proc: AttemptProcess) -> ErrorInfo | None:
        try:
            return await self._wait_exit(attempt, proc)
        except ExitStatusUnknown as exc:
            req = attempt.request
            log.warning("attempt %s: %s", _launch_id(req), exc)
            return ErrorInfo(
                reason=LOST_REASON,
                message=f"step '{req.step}' attempt {req.attempt} ended without reporting an "
                f"outcome and its {exc}; it is relaunched",
            )

    async def _wait_exit(self, attempt: _Attempt, proc: AttemptProcess) -> ErrorInfo | None:
        timeout = attempt.request.task.timeout_seconds
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=timeout)
        except TimeoutError:
            await _terminate(proc.pid)
            code = await proc.wait()
            files.write_exit(attempt.state_dir, code)
            return ErrorInfo(
                reason="Timeout",
                message=f"step '{attempt.request.step}' exceeded its timeout of {timeout:g}s "
                "and was killed; raise it with task.set_timeout()",
            )
        except asyncio.CancelledError:
            if self.kill_on_close:
                await _terminate(proc.pid, grace=0)
            raise
        files.write_exit(attempt.state_dir, code)
        if attempt.stop_reason is not None:
            return _stopped(attempt, "while it ran")
        return _exit_error(attempt.request.step, code)

    def _watch(self, info: AttemptInfo, state_dir: Path) -> None:
        if info.key not in self._watching:
            task = self._spawn(self._watch_attempt(info, state_dir), f"local-watch:{info.key}")
            self._watching[info.key] = task
            task.add_done_callback(lambda _t: self._watching.pop(info.key, None))

    async def _watch_attempt(self, info: AttemptInfo, state_dir: Path) -> None:
        """Watch an attempt this executor did not start until it ends; report it if
        it never did: cancelled (we stopped it) or lost (nobody saw it end)."""
        while True:
            while files.probe(state_dir) is Probe.ALIVE:
                await asyncio.sleep(_WATCH_POLL)
            await asyncio.sleep(_SETTLE)
            outcome = files.probe(state_dir)
            if outcome is Probe.REPORTED:
                return
            if outcome is Probe.LOST:
                break
        identity = files.read_identity(state_dir)
        if identity is not None and identity.alive() and files.verified(identity):
            # The step survived but lost its lock (its code closed the inherited fd).
            while identity.alive():
                await asyncio.sleep(_WATCH_POLL)
            if (state_dir / REPORTED_MARKER).exists():
                return
        await self._upload_log(info.run_id, info.step, info.attempt, state_dir / files.LOG)
        if info.key in self._cancelled:
            error = _cancelled(info.step, "stopped on request")
        else:
            error = _lost(info, state_dir)
            self.lost += 1
            log.warning("attempt %s ended while no controller watched it: %s", info.key,
                        error.message.splitlines()[0])  # fmt: skip
        await self._report_failure(info, error, None)
        _mark_reported(state_dir)

    def _environment(self, req: StepRequest, devices: list[str]) -> dict[str, str]:
        env = dict(os.environ)
        env.pop(TOKEN_ENV, None)
        env.update(req.env)
        env.update(req.task.env)
        env.update(self.secret_env)
        if self.keys is not None:
            env[TOKEN_ENV] = self.keys.attempt_token(req.run_id, req.step, req.attempt)
        env["PYTHONUNBUFFERED"] = "1"
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        # The attempt's span: the step's own spans (and any tool that reads the
        # OpenTelemetry environment carriers) continue its trace, not ours.
        trace = {"TRACEPARENT": req.traceparent, "TRACESTATE": req.tracestate}
        for name, value in trace.items():
            env.pop(name, None)
            if value:
                env[name] = value
        return env

    def _base_environment(self, req: StepRequest) -> dict[str, str]:
        """A warm worker's environment: what every attempt shares, nothing of one attempt."""
        env = dict(os.environ)
        for name in (TOKEN_ENV, "TRACEPARENT", "TRACESTATE"):
            env.pop(name, None)
        env.update(req.env)
        return env

    async def _upload_log(self, run_id: str, step: str, attempt: int, log_path: Path) -> None:
        if not log_path.exists():
            return
        try:
            await self.store.put_file(log_key(run_id, step, attempt), log_path)
        except Exception:  # a lost log must not lose the step's outcome
            log.warning("could not upload the log of %s/%s/%d", run_id, step, attempt,
                        exc_info=True)  # fmt: skip

    async def _report_failure(
        self, info: AttemptInfo, error: ErrorInfo, duration: float | None
    ) -> None:
        """Publish ``step.failed``, retrying while the bus is unreachable."""
        error = error.model_copy(update={"step": info.step})
        event = info.event(
            EventKind.STEP_FAILED,
            StepFailed(attempt=info.attempt, error=error, duration_seconds=duration),
            component="executor/local",
            time=datetime.now(UTC),
        )
        deadline = time.monotonic() + REPORT_DEADLINE_SECONDS
        delay = 0.2
        while True:
            try:
                await self.publish(event)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    # Not lost for good: the next reconcile finds the attempt unreported.
                    raise ExecutorError(f"could not report the failure of {info.key}") from exc
                log.warning("could not report the failure of %s yet (%s); retrying", info.key,
                            exc)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _launch_id(req: StepRequest) -> str:
    return f"{req.run_id}/{req.step}/{req.attempt}"


def _info(req: StepRequest) -> AttemptInfo:
    return AttemptInfo.of(req, launch_id=_launch_id(req))


def _mark_reported(state_dir: Path) -> None:
    """Its outcome is published (by us): a later reconcile must not report it again."""
    with contextlib.suppress(OSError):
        files.write_private(state_dir / REPORTED_MARKER, "failed")


def _stopped(attempt: _Attempt, when: str) -> ErrorInfo:
    """Why an attempt we stopped ourselves ended: a cancel, or our own shutdown — which
    was not the step's fault, so it counts as lost and is relaunched."""
    step = attempt.request.step
    if attempt.stop_reason == CONTROLLER_STOPPED:
        return ErrorInfo(
            reason=LOST_REASON,
            message=f"step '{step}' attempt {attempt.request.attempt} was stopped {when} "
            "because its controller shut down; it is relaunched",
        )
    return _cancelled(step, f"stopped on request {when}")


def _cancelled(step: str, how: str) -> ErrorInfo:
    return ErrorInfo(reason="Cancelled", message=f"step '{step}' was cancelled ({how})")


def _lost(info: AttemptInfo, state_dir: Path) -> ErrorInfo:
    """What is known about an attempt that ended while nobody watched it."""
    code = files.read_exit(state_dir)
    stopped = files.read_text(state_dir / files.STOPPED)
    if stopped:
        how = "was stopped when its controller shut down"
    elif not (state_dir / files.PID).exists():
        how = "never started: its controller stopped first"
    else:
        how = "ended while no controller watched it (the controller or the machine stopped)"
    status = "exit status unknown"
    if code is not None:
        status = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    tail = files.log_tail(state_dir)
    more = f"\n--- last lines of its log ---\n{tail}" if tail.strip() else ""
    return ErrorInfo(
        reason=LOST_REASON,
        message=f"step '{info.step}' attempt {info.attempt} {how}; {status}; it is "
        f"relaunched{more}",
        exit_code=code if code is not None and code >= 0 else None,
        signal=-code if code is not None and code < 0 else None,
    )


def _exit_error(step: str, code: int) -> ErrorInfo | None:
    if code == 0:
        return ErrorInfo(
            reason="NotReported",
            message=f"step '{step}' exited 0 without reporting an outcome",
            exit_code=0,
        )
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        reason = "Killed" if sig == signal.SIGKILL else "Signal"
        hint = (
            " (out of memory? the kernel's OOM killer sends SIGKILL)" if reason == "Killed" else ""
        )
        return ErrorInfo(
            reason=reason,
            message=f"step '{step}' was killed by {name}{hint}",
            signal=sig,
        )
    return ErrorInfo(
        reason="ExitCode", message=f"step '{step}' exited with code {code}", exit_code=code
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is "alive" for kill(0); reap-free check via /proc.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return status[0] != "Z"
    except (OSError, IndexError):
        return True


async def _terminate(
    pid: int, grace: float = STOP_GRACE_SECONDS, verify: Callable[[], bool] | None = None
) -> None:
    """SIGTERM the attempt's process group, SIGKILL it after ``grace`` seconds.

    ``verify``: for a process this executor did not start, a callable that says
    whether ``pid`` is still that process; checked before every signal."""

    def signal_group(sig: int) -> None:
        if verify is not None and not verify():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    signal_group(signal.SIGTERM if grace > 0 else signal.SIGKILL)
    deadline = time.monotonic() + grace
    while grace > 0 and _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    signal_group(signal.SIGKILL)
