"""Local executor: one subprocess ``python -m runner.step`` per step attempt.

The embedded default. Attempts are claimed atomically in
``<home>/executions/<run>/<step>/<attempt>/`` (``mkdir`` is atomic), so a
second launch of the same attempt — a redelivered event, a restarted or a
second controller — adopts the running process instead of starting another.
The step writes ``reported`` there after publishing its final event; an
attempt that ends without it (killed, segfault, OOM, timeout) is reported
here as ``step.failed`` with the exit code or signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runner.config import LocalExecutorSettings
from runner.errors import ExecutorError
from runner.events.envelope import make_event
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, StepFailed
from runner.executors.base import Publish
from runner.executors.gpus import GpuPool, detect_gpus
from runner.step.request import StepRequest
from runner.store.base import ArtifactStore
from runner.store.keys import log_key

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0
REPORTED_MARKER = "reported"


@dataclass
class _Attempt:
    request: StepRequest
    state_dir: Path
    process: asyncio.subprocess.Process | None = None
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
    ) -> None:
        self.settings = settings or LocalExecutorSettings()
        self.home = home.resolve()
        self.store = store
        self.publish = publish
        self.python = python
        self.kill_on_close = kill_on_close
        self.gpus = GpuPool(detect_gpus(self.settings.gpus))
        self._slots = asyncio.Semaphore(self.settings.concurrency or os.cpu_count() or 1)
        self._attempts: dict[str, _Attempt] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.launched = 0
        """Processes actually started by this executor (tests and benchmarks read it)."""

    # -- the Executor interface -------------------------------------------------

    async def launch(self, request: StepRequest) -> str:
        launch_id = _launch_id(request)
        if launch_id in self._attempts:
            return launch_id
        state_dir = self.home / "executions" / request.run_id / request.step / str(request.attempt)
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            state_dir.mkdir()
        except FileExistsError:
            self._spawn(self._adopt(launch_id, state_dir, request), launch_id)
            return launch_id
        request = request.model_copy(update={"state_dir": str(state_dir)})
        attempt = _Attempt(request=request, state_dir=state_dir)
        self._attempts[launch_id] = attempt
        self._spawn(self._supervise(attempt), launch_id)
        return launch_id

    async def stop(self, run_id: str, step: str, attempt: int, launch_id: str | None) -> None:
        key = launch_id or f"{run_id}/{step}/{attempt}"
        current = self._attempts.get(key)
        if current is None:
            pid = _read_pid(self.home / "executions" / run_id / step / str(attempt))
            if pid is not None:
                await _terminate(pid)
            return
        current.stop_reason = "Cancelled"
        if current.process is not None and current.process.returncode is None:
            await _terminate(current.process.pid)

    async def aclose(self) -> None:
        if self.kill_on_close:
            for attempt in self._attempts.values():
                if attempt.process is not None and attempt.process.returncode is None:
                    attempt.stop_reason = "ControllerStopped"
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(attempt.process.pid, signal.SIGKILL)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait until every attempt this executor started has been reported."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- supervision --------------------------------------------------------------

    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=f"local-step:{name}")  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(self, attempt: _Attempt) -> None:
        req = attempt.request
        log_path = attempt.state_dir / "log.txt"
        started = time.monotonic()
        try:
            async with self._slots:
                error = await self._run_process(attempt, log_path)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the executor must report, whatever went wrong
            log.exception("local executor: attempt %s failed to run", _launch_id(req))
            error = ErrorInfo(reason="LaunchFailed", message=f"{type(exc).__name__}: {exc}")
        finally:
            attempt.done.set()
        await self._upload_log(req, log_path)
        if error is not None and not (attempt.state_dir / REPORTED_MARKER).exists():
            await self._report_failure(req, error, time.monotonic() - started)

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
            request_path = attempt.state_dir / "request.json"
            req.write(request_path)
            with log_path.open("ab") as logfile:
                if warning:
                    logfile.write(warning.encode())
                    logfile.flush()
                if attempt.stop_reason is not None:
                    return ErrorInfo(reason=attempt.stop_reason, message="stopped before start")
                proc = await asyncio.create_subprocess_exec(
                    self.python, "-m", "runner.step", "--request", str(request_path),
                    stdin=asyncio.subprocess.DEVNULL, stdout=logfile,
                    stderr=asyncio.subprocess.STDOUT, env=env, cwd=str(attempt.state_dir),
                    start_new_session=True,
                )  # fmt: skip
                attempt.process = proc
                self.launched += 1
                (attempt.state_dir / "pid").write_text(str(proc.pid))
                return await self._wait(attempt, proc)

    async def _wait(self, attempt: _Attempt, proc: asyncio.subprocess.Process) -> ErrorInfo | None:
        timeout = attempt.request.task.timeout_seconds
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=timeout)
        except TimeoutError:
            await _terminate(proc.pid)
            await proc.wait()
            return ErrorInfo(
                reason="Timeout",
                message=f"step '{attempt.request.step}' exceeded its timeout of {timeout:g}s "
                "and was killed; raise it with task.set_timeout()",
            )
        except asyncio.CancelledError:
            if self.kill_on_close:
                await _terminate(proc.pid, grace=0)
            raise
        if attempt.stop_reason is not None:
            return ErrorInfo(reason=attempt.stop_reason, message="stopped on request")
        return _exit_error(attempt.request.step, code)

    async def _adopt(self, launch_id: str, state_dir: Path, req: StepRequest) -> None:
        """Watch an attempt another executor instance started."""
        deadline = time.monotonic() + 30
        pid = _read_pid(state_dir)
        while pid is None and time.monotonic() < deadline:
            if (state_dir / REPORTED_MARKER).exists():
                return
            await asyncio.sleep(0.2)
            pid = _read_pid(state_dir)
        while pid is not None and _alive(pid):
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.2)  # the step writes its marker just before exiting
        if not (state_dir / REPORTED_MARKER).exists():
            await self._report_failure(
                req,
                ErrorInfo(
                    reason="Lost",
                    message=f"step '{req.step}' attempt {req.attempt} ended without reporting "
                    "while its controller was restarting; exit status unknown",
                ),
                None,
            )

    def _environment(self, req: StepRequest, devices: list[str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(req.env)
        env.update(req.task.env)
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

    async def _upload_log(self, req: StepRequest, log_path: Path) -> None:
        if not log_path.exists():
            return
        try:
            await self.store.put_file(log_key(req.run_id, req.step, req.attempt), log_path)
        except Exception:  # a lost log must not lose the step's outcome
            log.warning("could not upload the log of %s", _launch_id(req), exc_info=True)

    async def _report_failure(
        self, req: StepRequest, error: ErrorInfo, duration: float | None
    ) -> None:
        error = error.model_copy(update={"step": req.step})
        event = make_event(
            EventKind.STEP_FAILED,
            run_id=req.run_id,
            pipeline=req.pipeline,
            step=req.step,
            attempt=req.attempt,
            component="executor/local",
            time=datetime.now(UTC),
            data=StepFailed(attempt=req.attempt, error=error, duration_seconds=duration),
            traceparent=req.traceparent,
            tracestate=req.tracestate,
        )
        try:
            await self.publish(event)
        except Exception as exc:
            raise ExecutorError(f"could not report the failure of {_launch_id(req)}") from exc


def _launch_id(req: StepRequest) -> str:
    return f"{req.run_id}/{req.step}/{req.attempt}"


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


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is "alive" for kill(0); reap-free check via /proc.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()
        return status[2] != "Z"
    except (OSError, IndexError):
        return True


async def _terminate(pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the attempt's process group, SIGKILL it after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    deadline = time.monotonic() + grace
    while grace > 0 and _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
