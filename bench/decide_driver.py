"""W4 (pure): drive the scheduler ``decide`` through a whole run, no I/O.

Plays the part of the shell and of a perfect executor: ``run.requested``
starts the run; for every ``LaunchStep`` the driver queues that step's
``step.launched``, ``step.started`` and ``step.succeeded`` (the output is
``x + 1``, the same trivial logic as the real workloads); every
``PublishEvent`` is fed back as the controller consumes its own events
(``run.started``, ``run.succeeded``). Performed actions are removed from
the outbox by id, as the shell does, so the state stays the size a real
controller would keep.

Only the calls to ``decide`` and ``complete_actions`` are timed; building
the events is not (the real shell decodes them off the wire instead).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.core import LaunchStep, Plan, PublishEvent, RunState, complete_actions, decide
from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import RunRequested, StepLaunched, StepStarted, StepSucceeded
from runner.spec.models import PipelineSpec

EVENTS_PER_STEP = 3
"""``step.launched``, ``step.started``, ``step.succeeded``."""
RUN_EVENTS = 3
"""``run.requested`` and the echoes of ``run.started`` and ``run.succeeded``."""

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DecideRun:
    """What one driven run cost."""

    steps: int
    transitions: int
    """Events applied by ``decide`` (``3 * steps + 3`` for a run that succeeds)."""
    decide_seconds: float
    """Time inside ``decide`` and ``complete_actions`` only."""
    decide_cpu_seconds: float
    """The same, in CPU time of this process (steadier on a busy machine)."""
    plan_seconds: float
    """Building the :class:`Plan` index (once per pipeline version in the controller)."""
    status: str
    state: RunState

    @property
    def transitions_per_second(self) -> float:
        return self.transitions / self.decide_seconds if self.decide_seconds > 0 else 0.0

    @property
    def microseconds_per_transition(self) -> float:
        return 1e6 * self.decide_seconds / self.transitions if self.transitions else 0.0


def run_requested(
    spec: PipelineSpec,
    run_id: str,
    *,
    spec_uri: str | None = None,
    no_cache: bool = True,
    at: datetime = _EPOCH,
) -> Event:
    """The ``run.requested`` event for ``spec``.

    Without ``spec_uri`` (pure driving: nothing loads the spec) a placeholder is used.
    ``no_cache``: W4 measures scheduling, so no cache lookup precedes each launch.
    """
    return make_event(
        EventKind.RUN_REQUESTED,
        run_id=run_id,
        pipeline=spec.name,
        component="api",
        time=at,
        data=RunRequested(
            pipeline=spec.name,
            pipeline_digest=spec.digest(),
            spec_uri=spec_uri or f"memory://pipelines/{spec.name}.json",
            no_cache=no_cache,
            requested_by="bench",
        ),
    )


def step_events(action: LaunchStep, now: datetime = _EPOCH) -> list[Event]:
    """What an executor and a step would report for ``action``: launched, started, succeeded."""
    launched = make_event(
        EventKind.STEP_LAUNCHED,
        run_id=action.run_id,
        pipeline=action.pipeline,
        step=action.step,
        attempt=action.attempt,
        time=now,
        data=StepLaunched(attempt=action.attempt, executor="noop", launch_id=f"noop-{action.step}"),
    )
    return [
        launched,
        *reported_events(
            action.run_id, action.pipeline, action.step, action.attempt, action.parameters, now
        ),
    ]


def reported_events(
    run_id: str,
    pipeline: str,
    step: str,
    attempt: int,
    parameters: Mapping[str, Any],
    now: datetime,
) -> list[Event]:
    """What a step process reports about itself: ``step.started``, ``step.succeeded``."""
    started = make_event(
        EventKind.STEP_STARTED,
        run_id=run_id,
        pipeline=pipeline,
        step=step,
        attempt=attempt,
        time=now,
        component="step",
        data=StepStarted(attempt=attempt),
    )
    succeeded = make_event(
        EventKind.STEP_SUCCEEDED,
        run_id=run_id,
        pipeline=pipeline,
        step=step,
        attempt=attempt,
        time=now,
        component="step",
        data=StepSucceeded(attempt=attempt, parameters=step_output(parameters)),
    )
    return [started, succeeded]


def step_output(parameters: Mapping[str, Any]) -> dict[str, int]:
    """The trivial step logic: ``inc`` returns ``x + 1``; a step without ``x`` returns nothing."""
    x = parameters.get("x")
    return {"output": x + 1} if isinstance(x, int) else {}


def drive_decide(spec: PipelineSpec, run_id: str = "bench-run") -> DecideRun:
    """Run ``spec`` to completion through ``decide``; raises if an event is rejected."""
    started = time.perf_counter()
    plan = Plan.from_spec(spec)
    plan_seconds = time.perf_counter() - started
    queue: deque[Event] = deque([run_requested(spec, run_id)])
    state: RunState | None = None
    transitions = 0
    spent = cpu = 0.0
    while queue:
        event = queue.popleft()
        t0, c0 = time.perf_counter(), time.process_time()
        decision = decide(state, event, plan, _EPOCH)
        if decision.state is not None:
            complete_actions(decision.state, [a.id for a in decision.actions])
        spent += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if decision.rejected:
            raise RuntimeError(f"decide rejected {event.kind.value}: {decision.rejected}")
        state = decision.state
        transitions += 1
        for action in decision.actions:
            if isinstance(action, LaunchStep):
                queue.extend(step_events(action))
            elif isinstance(action, PublishEvent):
                queue.append(action.event)
    assert state is not None
    return DecideRun(
        steps=len(plan),
        transitions=transitions,
        decide_seconds=spent,
        decide_cpu_seconds=cpu,
        plan_seconds=plan_seconds,
        status=state.status.value,
        state=state,
    )
