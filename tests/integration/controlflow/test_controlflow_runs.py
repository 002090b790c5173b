"""Control flow end to end: real nats-server, controller, step processes and file store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.api import RunHandle, submit
from runner.core import RunState, RunStatus, StepStatus
from runner.events.kinds import EventKind
from runner.events.models import StepSkipped
from runner.stack import Stack
from tests.integration.controlflow.pipelines import GATE, GUARDED, NESTED, SWEEP
from tests.integration.runtime.conftest import count_calls
from tests.waiting import until

pytestmark = pytest.mark.integration


async def start(stack: Stack, loaded: Any, **params: Any) -> RunHandle:
    return await submit(
        loaded.pipeline, params, bus=stack.bus, store=stack.store, source_root=loaded.source_root
    )


async def run(stack: Stack, loaded: Any, **params: Any) -> RunState:
    return await (await start(stack, loaded, **params)).wait(timeout=120)


def statuses(state: RunState) -> dict[str, StepStatus]:
    return {name: step.status for name, step in state.steps.items()}


async def test_sweep_over_an_upstream_list_collects_and_picks_the_best(
    stack: Stack, calls: Path, write_pipeline: Any
) -> None:
    loaded = write_pipeline(SWEEP, "sweep")
    handle = await start(stack, loaded, n=3, log_dir=str(calls))
    first = await handle.wait(timeout=120)
    assert first.status is RunStatus.SUCCEEDED, first.error
    running, most = 0, 0  # parallelism=2, as the event stream shows it
    async for event in _events(handle):
        if event.step and event.step.startswith("fit["):
            running += {EventKind.STEP_LAUNCHED: 1, EventKind.STEP_SUCCEEDED: -1}.get(event.kind, 0)
            most = max(most, running)
    assert 1 <= most <= 2  # never 3, whatever order launches and results are published in
    assert statuses(first) == dict.fromkeys(
        ["grid", "fit[0]", "fit[1]", "fit[2]", "pick"], StepStatus.SUCCEEDED
    )
    assert first.steps["pick"].parameters["output"] == "model lr=0.2 score=1.0 of 3"
    assert [first.steps[f"fit[{i}]"].parameters["output"] for i in range(3)] == [0.9, 1.0, 0.9]
    model = first.steps["fit[1]"].outputs["model"]
    assert model.uri.endswith(f"runs/{first.run_id}/fit[1]/model")
    assert model.metadata == {"lr": 0.2}
    assert first.loops["for-loop-1"].items == [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]
    assert count_calls(calls, "fit") == 3

    # One more item: the three iterations already computed come from the cache.
    second = await run(stack, loaded, n=4, log_dir=str(calls))
    assert second.status is RunStatus.SUCCEEDED, second.error
    assert [second.steps[f"fit[{i}]"].status for i in range(4)] == [StepStatus.CACHED] * 3 + [
        StepStatus.SUCCEEDED
    ]
    assert count_calls(calls, "fit") == 4
    assert second.steps["pick"].parameters["output"] == "model lr=0.2 score=1.0 of 4"


@pytest.mark.parametrize(
    ("value", "ran", "outcome"),
    [(0.95, "act", "deploy"), (0.6, "act-2", "review"), (0.1, "act-3", "discard")],
)
async def test_if_elif_else_on_a_metric(
    stack: Stack, write_pipeline: Any, value: float, ran: str, outcome: str
) -> None:
    handle = await start(stack, write_pipeline(GATE, "gate"), value=value)
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.SUCCEEDED, state.error
    branches = {"act", "act-2", "act-3"}
    assert state.steps[ran].status is StepStatus.SUCCEEDED
    assert {state.steps[b].status for b in branches - {ran}} == {StepStatus.SKIPPED}
    assert state.steps["act-4"].parameters["output"] == outcome
    skipped = [e async for e in _events(handle) if e.kind is EventKind.STEP_SKIPPED]
    assert {e.step for e in skipped} == branches - {ran}
    assert all(isinstance(e.data, StepSkipped) and e.data.reason == "condition" for e in skipped)


async def test_exit_handler_after_success(stack: Stack, calls: Path, write_pipeline: Any) -> None:
    state = await run(stack, write_pipeline(GUARDED, "guarded"), log_dir=str(calls))
    assert state.status is RunStatus.SUCCEEDED, state.error
    assert state.steps["report"].parameters["output"] == "SUCCEEDED"
    status = json.loads((calls / "status.json").read_text())
    assert status["state"] == "SUCCEEDED"
    assert status["run_id"] == state.run_id
    assert status["error_message"] is None


async def test_exit_handler_after_a_failure_and_failing_itself(
    stack: Stack, calls: Path, write_pipeline: Any
) -> None:
    loaded = write_pipeline(GUARDED, "guarded")
    state = await run(stack, loaded, fail=True, report_fails=True, log_dir=str(calls))
    assert state.status is RunStatus.FAILED
    assert statuses(state) == {
        "work": StepStatus.FAILED,
        "work-2": StepStatus.SKIPPED,
        "report": StepStatus.FAILED,
    }
    status = json.loads((calls / "status.json").read_text())
    assert (status["state"], status["failed_step"]) == ("FAILED", "work")
    assert "work broke" in status["error_message"]
    assert state.error is not None
    assert state.error.step == "work"
    assert "work broke" in state.error.message
    assert "exit handler 'report' failed too: report broke" in state.error.message


async def test_exit_handler_after_a_cancel(stack: Stack, calls: Path, write_pipeline: Any) -> None:
    handle = await start(stack, write_pipeline(GUARDED, "guarded"), sleep=60.0, log_dir=str(calls))
    await until(
        lambda: count_calls(calls, "work") > 0,
        "the guarded step to start",
        timeout=60,
        interval=0.1,
    )
    await handle.cancel("stop the sweep")
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.CANCELLED
    assert state.steps["work"].status is StepStatus.CANCELLED
    assert state.steps["work-2"].status is StepStatus.SKIPPED
    assert state.steps["report"].status is StepStatus.SUCCEEDED
    assert state.steps["report"].parameters["output"] == "CANCELLED"


async def test_nested_loops_name_steps_and_store_paths_by_iteration(
    stack: Stack, write_pipeline: Any
) -> None:
    state = await run(stack, write_pipeline(NESTED, "nested"))
    assert state.status is RunStatus.SUCCEEDED, state.error
    cells = {f"leaf[{i},{j}]": v for i, j, v in [(0, 0, 10), (0, 1, 20), (1, 0, 60)]}
    assert {name: state.steps[name].parameters["output"] for name in cells} == cells
    assert (state.steps["total[0]"].parameters, state.steps["total[1]"].parameters) == (
        {"output": 30},
        {"output": 60},
    )
    assert state.steps["total-2"].parameters["output"] == 90
    assert set(state.loops) == {"for-loop-1", "for-loop-2[0]", "for-loop-2[1]"}
    out = state.steps["leaf[0,1]"].outputs["out"]
    assert out.uri.endswith(f"runs/{state.run_id}/leaf[0,1]/out")
    assert await stack.store.get_bytes(stack.store.key_for(out.uri)) == b"20"
    logs = [o async for o in stack.store.list(f"runs/{state.run_id}/leaf[1,0]/logs/")]
    assert logs, "the iteration's log was not stored under its step name"


async def _events(handle: RunHandle) -> Any:
    stream = handle.events()
    try:
        async for event in stream:
            yield event
            if event.kind in (EventKind.RUN_SUCCEEDED, EventKind.RUN_FAILED):
                return
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
