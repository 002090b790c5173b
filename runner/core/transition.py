"""One application of an event to a run state: the shared machinery of ``decide``.

:class:`Transition` holds the state being changed, the plan, ``now`` and the
actions decided so far, and owns the few operations that must keep the
counters exact: moving a step into an active status, finishing it, emitting
actions (also appended to the outbox) and publishing controller events with
deterministic ids and the run's trace context.

It also holds the queue of nodes that just finished and whose consequences
(children released or skipped, iterations closed) are still to be drawn
(:func:`runner.core.flow.settle`): a queue, not recursion, so a chain of
10,000 skipped steps or iterations never deepens the stack.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from runner.core.actions import Action, PublishEvent, publish_action_id
from runner.core.plan import Plan
from runner.core.state import LoopState, RunState, StepState, StepStatus
from runner.events.envelope import make_event
from runner.events.kinds import EventKind
from runner.events.models import StepSkipped, _Data


@dataclass(slots=True)
class Transition:
    state: RunState
    plan: Plan
    now: datetime
    actions: list[Action] = field(default_factory=list)
    settling: deque[tuple[str, StepSkipped | None]] = field(default_factory=deque)
    """Finished steps and loops whose consequences are not drawn yet, with why
    they were skipped (for their own skipped children)."""
    draining: bool = False

    def emit(self, action: Action) -> None:
        self.actions.append(action)
        self.state.outbox.append(action)

    def publish(
        self,
        kind: EventKind,
        data: _Data,
        *,
        step: str | None = None,
        attempt: int | None = None,
    ) -> None:
        """Publish a controller event; its id is deterministic (run, kind, step, attempt)."""
        event = make_event(
            kind,
            run_id=self.state.run_id,
            pipeline=self.state.pipeline,
            data=data,
            time=self.now,
            step=step,
            attempt=attempt,
            traceparent=self.state.traceparent,
            tracestate=self.state.tracestate,
        )
        self.emit(PublishEvent(id=publish_action_id(event), event=event))

    def activate(self, name: str, status: StepStatus, attempt: int) -> StepState:
        """Move a step to waiting/launching/running for ``attempt``."""
        step = self.state.steps[name]
        step.status = status
        step.attempt = attempt
        self.state.active[name] = attempt
        return step

    def finish(self, name: str, status: StepStatus, at: datetime | None = None) -> StepState:
        """Move an unfinished step to a terminal status; keeps the counters exact."""
        step = self.state.steps[name]
        assert not step.status.terminal, f"step {name!r} finished twice"
        step.status = status
        step.finished_at = at or self.now
        self.state.active.pop(name, None)
        self.state.unfinished -= 1
        return step

    def finish_loop(self, name: str, status: StepStatus) -> LoopState:
        """Move an unfinished loop instance to a terminal status."""
        loop = self.state.loops[name]
        assert not loop.status.terminal, f"loop {name!r} finished twice"
        loop.status = status
        loop.finished_at = self.now
        self.state.unfinished -= 1
        return loop
