"""Steps that fail, flake, die, hang or get cancelled; garbage on the bus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.api import submit
from runner.core import RunStatus, StepStatus
from runner.events.kinds import EventKind
from runner.stack import Stack
from tests.integration.runtime.conftest import count_calls
from tests.integration.runtime.pipelines import ETL, FAULTS
from tests.waiting import until

pytestmark = pytest.mark.integration


async def start(stack: Stack, loaded, calls: Path, **params):  # type: ignore[no-untyped-def]
    return await submit(
        loaded.pipeline,
        {"log_dir": str(calls), **params},
        bus=stack.bus,
        store=stack.store,
        source_root=loaded.source_root,
    )


async def test_failure_skips_downstream_and_keeps_independent_branches(
    stack: Stack, calls: Path, write_pipeline
) -> None:
    handle = await start(stack, write_pipeline(FAULTS, "failing"), calls)
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.FAILED
    boom = state.steps["boom"]
    assert boom.status is StepStatus.FAILED
    assert boom.error is not None
    assert boom.error.type == "RuntimeError"
    assert "column 'age' has -3" in boom.error.message
    assert boom.error.traceback
    assert "raise RuntimeError" in boom.error.traceback
    assert state.steps["after-boom"].status is StepStatus.SKIPPED
    assert state.steps["ok-2"].status is StepStatus.SUCCEEDED
    assert state.error is not None
    assert state.error.step == "boom"


async def test_retry_with_backoff_then_success(stack: Stack, calls: Path, write_pipeline) -> None:
    handle = await start(stack, write_pipeline(FAULTS, "retrying"), calls)
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.SUCCEEDED
    assert state.steps["flaky"].attempt == 2
    assert state.steps["flaky"].parameters["output"] == 2
    kinds = [e.kind async for e in _events_until_end(handle)]
    assert EventKind.STEP_RETRYING in kinds


async def _events_until_end(handle):  # type: ignore[no-untyped-def]
    stream = handle.events()
    try:
        async for event in stream:
            yield event
            if event.kind in (
                EventKind.RUN_SUCCEEDED,
                EventKind.RUN_FAILED,
                EventKind.RUN_CANCELLED,
            ):
                return
    finally:
        await stream.aclose()


async def test_step_killed_by_sigkill_is_reported(
    stack: Stack, calls: Path, write_pipeline
) -> None:
    handle = await start(stack, write_pipeline(FAULTS, "killed"), calls)
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.FAILED
    error = state.steps["suicide"].error
    assert error is not None
    assert error.reason == "Killed"
    assert error.signal == 9


async def test_timeout_kills_the_step(stack: Stack, calls: Path, write_pipeline) -> None:
    handle = await start(stack, write_pipeline(FAULTS, "timed"), calls)
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.FAILED
    error = state.steps["sleepy"].error
    assert error is not None
    assert error.reason == "Timeout"
    # The executor records the attempt's pid (user code may not have run yet).
    pid_file = stack.settings.home / "executions" / handle.run_id / "sleepy" / "1" / "pid"
    assert not _alive(json.loads(pid_file.read_text())["pid"])


async def test_cancel_stops_running_steps(stack: Stack, calls: Path, write_pipeline) -> None:
    handle = await start(stack, write_pipeline(FAULTS, "slow"), calls, seconds=60.0)
    await until(lambda: count_calls(calls, "sleepy") > 0, "the step to start", timeout=60)
    await handle.cancel()
    state = await handle.wait(timeout=60)
    assert state.status is RunStatus.CANCELLED
    assert state.steps["sleepy"].status is StepStatus.CANCELLED
    assert state.steps["ok"].status is StepStatus.SKIPPED
    pid = int((calls / "sleepy").read_text().split()[0])
    assert not _alive(pid)
    assert count_calls(calls, "ok") == 0


async def test_malformed_messages_are_dead_lettered_and_runs_go_on(
    stack: Stack, calls: Path, write_pipeline
) -> None:
    assert stack.controller is not None
    bad = [
        ("runner.events.etl.r1.step.failed", b"not json", None),
        ("runner.events.etl.r1.step.failed", b'{"hello": "world"}', None),
        (
            "runner.events.etl.r1.step.exploded",
            b'{"specversion":"1.0","id":"x","source":"/x","type":"runner.step.exploded",'
            b'"runid":"r1","pipeline":"etl","data":{}}',
            None,
        ),
        (
            "runner.events.etl.nosuchrun.step.succeeded",
            b'{"specversion":"1.0","id":"y","source":"/x","type":"runner.step.succeeded",'
            b'"subject":"make","runid":"nosuchrun","pipeline":"etl","data":{"attempt":1}}',
            None,
        ),
        (
            "runner.events.etl.r2.step.succeeded",
            b'{"specversion":"1.0","id":"z","source":"/x","type":"runner.step.succeeded",'
            b'"subject":"make","runid":"r2","pipeline":"etl","data":{"attempt":"one"}}',
            None,
        ),
    ]
    for subject, body, headers in bad:
        await stack.bus.publish_raw(subject, body, headers)
    handle = await start(stack, write_pipeline(ETL, "etl"), calls, n=5)
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.SUCCEEDED
    assert stack.controller.stats.dead_lettered >= len(bad)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


ECHO = """
from runner import component, pipeline


@component
def echo(text: str) -> str:
    return text


@pipeline(name="echo")
def echo_pipeline(text: str = ""):
    echo(text=text)
"""


async def test_values_that_look_like_code_or_templates_are_only_data(
    stack: Stack, tmp_path: Path, write_pipeline
) -> None:
    planted = tmp_path / "pwned"
    text = (
        f"{{{{ object.key }}}} ${{HOME}} $(touch {planted}) "
        f"__import__('os').system('touch {planted}')"
    )
    loaded = write_pipeline(ECHO, "echo_pipeline")
    handle = await submit(
        loaded.pipeline, {"text": text}, bus=stack.bus, store=stack.store,
        source_root=loaded.source_root,
    )  # fmt: skip
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.SUCCEEDED
    assert state.steps["echo"].parameters["output"] == text
    assert not planted.exists()
