"""The step process runs the component on its main thread: signals reach the user's code.

Real runs on the embedded default (nats-server, controller, local step
processes): a component may install signal handlers, a SIGTERM handler gets
to run when the attempt is cancelled, and a component that exits or is
interrupted is still reported, by the step itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.api import submit
from runner.core import RunStatus, StepStatus
from runner.stack import Stack
from tests.integration.runtime.conftest import count_calls
from tests.waiting import until

pytestmark = pytest.mark.integration

PIPELINES = """
import os
import signal
import sys
import threading
import time

from runner import component, pipeline


def _note(log_dir: str, name: str) -> None:
    with open(os.path.join(log_dir, name), "a") as fh:
        fh.write(str(os.getpid()) + "\\n")


@component
def on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@component
def installs_handler() -> str:
    def handler(signum, frame):
        pass

    signal.signal(signal.SIGTERM, handler)
    current = signal.getsignal(signal.SIGTERM)
    return "installed" if current is handler else f"SIGTERM handler is {current!r}"


@component
def checkpointing(log_dir: str, seconds: float) -> float:
    def save(signum, frame):
        with open(os.path.join(log_dir, "checkpoint"), "w") as fh:
            fh.write(f"saved on signal {signum}")
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, save)
    _note(log_dir, "checkpointing")
    time.sleep(seconds)
    return seconds


@component
def exits() -> int:
    sys.exit(3)


@component
def interrupted() -> int:
    raise KeyboardInterrupt


@pipeline(name="signals")
def signals():
    on_main_thread().set_caching(False)
    installs_handler().set_caching(False)


@pipeline(name="checkpoint")
def checkpoint(log_dir: str = "", seconds: float = 60.0):
    checkpointing(log_dir=log_dir, seconds=seconds).set_caching(False)


@pipeline(name="exiting")
def exiting():
    exits().set_caching(False)
    interrupted().set_caching(False)
"""


async def start(stack: Stack, loaded, **params):  # type: ignore[no-untyped-def]
    return await submit(
        loaded.pipeline,
        params,
        bus=stack.bus,
        store=stack.store,
        source_root=loaded.source_root,
    )


async def _marker(stack: Stack, run_id: str, step: str) -> str:
    """The attempt's ``reported`` marker. The step writes it right after its report
    is published, so the run may be seen to end a moment before it exists."""
    path = stack.settings.home / "executions" / run_id / step / "1" / "reported"
    await until(path.exists, f"the reported marker of {step}", timeout=15)
    return path.read_text()


async def test_a_component_runs_on_the_main_thread_and_installs_signal_handlers(
    stack: Stack, write_pipeline
) -> None:
    handle = await start(stack, write_pipeline(PIPELINES, "signals"))
    state = await handle.wait(timeout=120)
    errors = {name: step.error for name, step in state.steps.items() if step.error}
    assert state.status is RunStatus.SUCCEEDED, errors
    assert state.steps["on-main-thread"].parameters["output"] is True
    assert state.steps["installs-handler"].parameters["output"] == "installed"


async def test_a_sigterm_handler_saves_a_checkpoint_when_the_step_is_cancelled(
    stack: Stack, calls: Path, write_pipeline
) -> None:
    handle = await start(stack, write_pipeline(PIPELINES, "checkpoint"), log_dir=str(calls))
    await until(lambda: count_calls(calls, "checkpointing") > 0, "the step to start", timeout=60)
    await handle.cancel()
    state = await handle.wait(timeout=60)
    assert state.status is RunStatus.CANCELLED
    step = state.steps["checkpointing"]
    assert step.status is StepStatus.CANCELLED
    assert (calls / "checkpoint").read_text() == "saved on signal 15"
    # The handler's sys.exit() was reported by the step itself, within the grace.
    assert step.error is not None
    assert (step.error.reason, step.error.exit_code) == ("SystemExit", 143), step.error
    assert await _marker(stack, handle.run_id, "checkpointing") == "failed"
    pid = int((calls / "checkpointing").read_text().split()[0])
    assert not _alive(pid)


async def test_sys_exit_and_keyboard_interrupt_in_a_component_are_reported_failures(
    stack: Stack, write_pipeline
) -> None:
    handle = await start(stack, write_pipeline(PIPELINES, "exiting"))
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.FAILED
    exited = state.steps["exits"].error
    assert exited is not None
    assert (exited.reason, exited.type, exited.exit_code) == ("SystemExit", "SystemExit", 3)
    assert "component 'exits' called sys.exit(3)" in exited.message
    assert exited.traceback is not None
    assert "sys.exit(3)" in exited.traceback
    interrupted = state.steps["interrupted"].error
    assert interrupted is not None
    assert (interrupted.reason, interrupted.type) == ("Interrupted", "KeyboardInterrupt")
    # Reported by the step process, not by the executor after an unreported exit.
    assert await _marker(stack, handle.run_id, "exits") == "failed"
    assert await _marker(stack, handle.run_id, "interrupted") == "failed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False
