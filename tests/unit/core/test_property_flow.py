"""Property test for control flow: random pipelines with loops, conditions and exit handlers.

The same simulated shell and executor as ``test_property`` (random delivery
order, duplicates, late outbox, failures, cache hits, cancellations) run
random plans that mix a ``ParallelFor`` (random items and parallelism, an
optional nested loop), conditions on upstream outputs, a ``Collected``
fan-in (sometimes ``ignore_upstream_failure``) and an optional exit handler.
After every event the counters must match a recount — including every open
iteration's count and the parallelism bound — and every run must end once
with the status its history calls for. Seeds are fixed: a failure replays.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from runner.core import Plan, RunState, StepStatus
from runner.events import ErrorInfo, EventKind, StepFailed, StepSucceeded
from runner.spec import CollectedInput, FinalStatusInput, LoopItemInput, TaskSpec
from tests.unit.core.factories import compare, component, loop, out, spec, task
from tests.unit.core.test_property import Simulation

COMPONENTS = [
    component("use", params=["x"]),
    component("gather", params=["xs"]),
    component("notify", params=["status"]),
]


def _dag(rng: random.Random, prefix: str, n: int, **extra: Any) -> list[TaskSpec]:
    tasks = []
    for i in range(n):
        picked = sorted(rng.sample(range(i), k=min(i, rng.randint(0, 2))))
        parents = [f"{prefix}{p}" for p in picked]
        condition = None
        if parents and rng.random() < 0.35:
            condition = compare(out(rng.choice(parents)), "==", 1)
        tasks.append(
            task(
                f"{prefix}{i}",
                *parents,
                condition=condition,
                max_attempts=rng.randint(1, 2),
                caching=rng.random() < 0.8,
                **extra,
            )
        )
    return tasks


def random_flow_plan(rng: random.Random) -> Plan:
    top = _dag(rng, "t", rng.randint(1, 4))
    body = _dag(rng, "b", rng.randint(1, 3), loop="L")
    outside = rng.choice(top).name
    body[0] = body[0].model_copy(
        update={
            "component": "use",
            "inputs": {"x": LoopItemInput(loop="L")},
            "dependencies": sorted({*body[0].dependencies, outside}),
        }
    )
    loops = [loop("L", list(range(rng.randint(0, 4))), parallelism=rng.choice([None, 1, 2]))]
    if rng.random() < 0.3:
        loops.append(loop("N", [1, 2], inside="L", parallelism=rng.choice([None, 1])))
        body.append(task("c0", body[0].name, loop="N"))
    gather = task(
        "gather",
        body[-1].name if body[-1].loop == "L" else body[0].name,
        component="gather",
        ignore_upstream_failure=rng.random() < 0.3,
    )
    source = gather.dependencies[0]
    gather = gather.model_copy(update={"inputs": {"xs": CollectedInput(task=source, output="out")}})
    tasks = [*top, *body, gather]
    if rng.random() < 0.4:
        guarded = [t.name for t in top] + [rng.choice(body).name]
        exit_task = task("exit", *guarded, component="notify", exit_handler=True)
        tasks.append(exit_task.model_copy(update={"inputs": {"status": FinalStatusInput()}}))
    return Plan.from_spec(spec(*tasks, components=COMPONENTS, loops=loops))


class FlowSimulation(Simulation):
    """Steps return 1 or 2 at random (so conditions go both ways), or nothing."""

    def finish(self, key: tuple[str, int], reason: str | None = None) -> None:
        del self.running[key]
        name, attempt = key
        if reason is None and self.rng.random() < 0.15:
            reason = "Exception"
        data: StepFailed | StepSucceeded
        if reason:
            data = StepFailed(attempt=attempt, error=ErrorInfo(reason=reason, message="boom"))
            kind = EventKind.STEP_FAILED
        else:
            roll = self.rng.random()
            outputs = {} if roll < 0.05 else {"out": 1 if roll < 0.6 else 2}
            data = StepSucceeded(attempt=attempt, parameters=outputs)
            kind = EventKind.STEP_SUCCEEDED
        self.pool.append(self.driver.event(kind, data, name, attempt))


def check_flow_outcome(sim: Simulation, state: RunState) -> None:
    nodes = [*state.steps.values(), *state.loops.values()]
    assert all(node.status.terminal for node in nodes)
    assert state.unfinished == 0
    assert sim.terminal_events == 1
    failed = any(node.status is StepStatus.FAILED for node in nodes)
    if sim.cancelled_while_live:
        assert state.status.value == "cancelled"
    elif failed:
        assert state.status.value == "failed"
        assert state.error is not None
    else:
        assert state.status.value == "succeeded"
        assert state.error is None
    exit_step = state.steps.get("exit")
    if exit_step is not None and not sim.cancelled_while_live:
        assert exit_step.status is not StepStatus.SKIPPED  # an exit handler always runs
    for name, loop_state in state.loops.items():
        if loop_state.status is StepStatus.SUCCEEDED:
            assert loop_state.next == len(loop_state.items or []), name


@pytest.mark.parametrize("seed", range(300))
def test_random_control_flow_runs_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    sim = FlowSimulation(rng=rng, plan=random_flow_plan(rng))
    check_flow_outcome(sim, sim.run())
