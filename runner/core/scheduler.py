"""``decide``: the pure scheduler — one event in, a new state and actions out.

``decide(state, event, plan, now)`` checks that the event belongs to the run
and the plan, then applies it (:mod:`runner.core.scheduler_run`,
:mod:`runner.core.scheduler_steps`). It never awaits, reads a clock or does
I/O. It **mutates and returns the state it is given** — the shell passes a
freshly loaded copy — because copying a 10,000-step state per event would
make every event O(steps); the cost per event is O(out-degree) of the step,
plus the work it unlocks (steps skipped, loop iterations started).

Redelivery is safe: every transition checks the step's status and attempt,
so an event already applied (and the controller's own published events,
consumed back as echoes) changes nothing and yields no new actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from runner.core import names
from runner.core.actions import Action
from runner.core.plan import Plan
from runner.core.scheduler_run import complete_if_done, on_cancel_requested, start_run
from runner.core.scheduler_steps import (
    on_cached,
    on_failed,
    on_launched,
    on_started,
    on_succeeded,
)
from runner.core.state import RunState
from runner.core.transition import Transition
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.events.models import DATA_MODELS, RunRequested


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one event.

    ``actions`` are the new actions (also appended to ``state.outbox``);
    ``rejected`` is a reason when the event cannot belong to this run or plan
    and must be dead-lettered (the state is then unchanged).
    """

    state: RunState | None
    actions: list[Action] = field(default_factory=list)
    rejected: str | None = None


_StepHandler = Callable[[Transition, str, Event], None]

_STEP_HANDLERS: dict[EventKind, _StepHandler] = {
    EventKind.STEP_LAUNCHED: on_launched,
    EventKind.STEP_STARTED: on_started,
    EventKind.STEP_SUCCEEDED: on_succeeded,
    EventKind.STEP_CACHED: on_cached,
    EventKind.STEP_FAILED: on_failed,
}
"""Step events with an effect. ``step.retrying`` and ``step.skipped`` are only
published by the controller itself: their echoes change nothing."""


def decide(state: RunState | None, event: Event, plan: Plan, now: datetime) -> Decision:
    """Apply ``event`` to ``state`` (mutated in place) under ``plan`` at time ``now``."""
    if not isinstance(event.data, DATA_MODELS[event.kind]):
        return Decision(state, rejected=f"{event.kind.value} carries {type(event.data).__name__}")
    if event.kind is EventKind.RUN_REQUESTED:
        return _request(state, event, plan, now)
    if state is None:
        return Decision(None, rejected=f"unknown run {event.run_id!r}")
    problem = _mismatch(state, event, plan)
    if problem:
        return Decision(state, rejected=problem)
    tr = Transition(state=state, plan=plan, now=now)
    if event.kind is EventKind.RUN_CANCEL_REQUESTED:
        on_cancel_requested(tr, event)
    elif event.kind in _STEP_HANDLERS:
        assert event.step is not None  # checked by _mismatch
        if event.step not in state.steps:
            # A run that failed before creating its steps (invalid parameters).
            return Decision(state, rejected=None if state.status.terminal else "step not in state")
        _STEP_HANDLERS[event.kind](tr, event.step, event)
        complete_if_done(tr)
    return Decision(state, tr.actions)


def _request(state: RunState | None, event: Event, plan: Plan, now: datetime) -> Decision:
    if state is not None:
        return Decision(state)  # the run exists: a redelivery
    data = event.data
    assert isinstance(data, RunRequested)
    if data.pipeline_digest != plan.digest:
        return Decision(
            None,
            rejected=f"run {event.run_id!r} requests pipeline digest "
            f"{data.pipeline_digest[:12]} but the plan is {plan.digest[:12]}",
        )
    if event.pipeline != plan.name or data.pipeline != plan.name:
        return Decision(None, rejected=f"run {event.run_id!r} is not of pipeline {plan.name!r}")
    tr = start_run(event, plan, now)
    return Decision(tr.state, tr.actions)


def _mismatch(state: RunState, event: Event, plan: Plan) -> str | None:
    """Why ``event`` cannot apply to ``state`` under ``plan``, or None."""
    if event.run_id != state.run_id or event.pipeline != state.pipeline:
        return f"event for run {event.pipeline}/{event.run_id} given state of {state.run_id}"
    if plan.digest != state.pipeline_digest:
        return f"run {state.run_id!r} has digest {state.pipeline_digest[:12]}, not the plan's"
    if event.kind.is_step:
        if event.step is None:
            return f"{event.kind.value} without a step"
        if names.node_of(event.step) not in plan.tasks:
            return f"unknown step {event.step!r} in pipeline {plan.name!r}"
    return None
