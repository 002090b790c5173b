"""Run transitions: request (start), cancellation and completion.

A run starts in ``running`` with every step pending and each root launched.
Cancellation stops what runs, skips what has not started (withdrawing
launches still queued in the outbox) and ends the run once nothing is active.
Completion is an O(1) check of the ``unfinished`` counter after every change.
"""

from __future__ import annotations

from datetime import datetime

from runner.core.actions import LaunchStep, StopStep, launch_action_id, stop_action_id
from runner.core.plan import Plan
from runner.core.resolve import resolve_parameters
from runner.core.scheduler_steps import launch, skip_descendants
from runner.core.state import RunState, RunStatus, StepState, StepStatus
from runner.core.transition import Transition
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.events.models import (
    RunCancelled,
    RunCancelRequested,
    RunFailed,
    RunRequested,
    RunStarted,
    RunSucceeded,
    StepSkipped,
)


def start_run(event: Event, plan: Plan, now: datetime) -> Transition:
    """Create the state of a requested run; fail it at once if its parameters are invalid."""
    data = event.data
    assert isinstance(data, RunRequested)
    state = RunState(
        run_id=event.run_id,
        pipeline=event.pipeline,
        pipeline_digest=data.pipeline_digest,
        spec_uri=data.spec_uri,
        code=data.code,
        no_cache=data.no_cache,
        experiment=data.experiment,
        version=data.version,
        requested_by=data.requested_by,
        labels=dict(data.labels),
        created_at=now,
        traceparent=event.traceparent,
        tracestate=event.tracestate,
    )
    tr = Transition(state=state, plan=plan, now=now)
    parameters = resolve_parameters(plan, data.parameters)
    error = parameters.error(plan.name)
    if error is not None:
        state.parameters = dict(data.parameters)
        state.status = RunStatus.FAILED
        state.error = error
        state.finished_at = now
        tr.publish(EventKind.RUN_FAILED, RunFailed(error=error))
        return tr
    state.parameters = parameters.values
    state.started_at = now
    state.steps = {
        name: StepState(waiting_on=len(task.parents)) for name, task in plan.tasks.items()
    }
    state.unfinished = len(plan.tasks)
    tr.publish(EventKind.RUN_STARTED, RunStarted(pipeline_digest=plan.digest, steps=len(plan)))
    for root in plan.roots:
        launch(tr, root, attempt=1)
    complete_if_done(tr)
    return tr


def on_cancel_requested(tr: Transition, event: Event) -> None:
    """Stop running steps, skip the rest; O(active + steps skipped + outbox)."""
    data = event.data
    assert isinstance(data, RunCancelRequested)
    state = tr.state
    if state.status is not RunStatus.RUNNING:
        return
    state.status = RunStatus.CANCELLING
    state.cancel_reason = data.reason
    queued = {a.id for a in state.outbox if isinstance(a, LaunchStep)}
    skipped = StepSkipped(reason="cancelled", message=f"run cancelled: {data.reason}")
    withdrawn: set[str] = set()
    frontier = list(state.active.items())
    for name, attempt in frontier:
        step = state.steps[name]
        launch_id = launch_action_id(state.run_id, name, attempt)
        if step.status is StepStatus.RUNNING or launch_id not in queued:
            tr.emit(
                StopStep(
                    id=stop_action_id(state.run_id, name, attempt),
                    run_id=state.run_id,
                    pipeline=state.pipeline,
                    step=name,
                    attempt=attempt,
                    launch_id=step.launch_id,
                )
            )
        else:
            # Not performed yet (or a retry in backoff): never launch it.
            withdrawn.add(launch_id)
            tr.finish(name, StepStatus.SKIPPED)
            tr.publish(EventKind.STEP_SKIPPED, skipped, step=name)
    if withdrawn:
        state.outbox = [a for a in state.outbox if a.id not in withdrawn]
    # Every pending step lies below an active one (a step is launched as soon as
    # its last parent is done), so this walk finds them all without a full scan.
    skip_descendants(tr, [name for name, _ in frontier], skipped)
    complete_if_done(tr)


def complete_if_done(tr: Transition) -> None:
    """End the run when no step is unfinished: cancelled, failed (first error) or succeeded."""
    state = tr.state
    if state.unfinished > 0 or state.status.terminal:
        return
    state.finished_at = tr.now
    duration = (tr.now - (state.started_at or state.created_at)).total_seconds()
    if state.status is RunStatus.CANCELLING:
        state.status = RunStatus.CANCELLED
        reason = state.cancel_reason or RunCancelled().reason
        tr.publish(EventKind.RUN_CANCELLED, RunCancelled(reason=reason))
    elif state.error is not None:
        state.status = RunStatus.FAILED
        tr.publish(EventKind.RUN_FAILED, RunFailed(error=state.error, duration_seconds=duration))
    else:
        state.status = RunStatus.SUCCEEDED
        tr.publish(EventKind.RUN_SUCCEEDED, RunSucceeded(duration_seconds=duration))
