"""Run transitions: request (start), cancellation and completion.

A run starts in ``running`` with the pipeline's own steps and loops pending
(iterations come later, see :mod:`runner.core.loops`) and each root ready.
Cancellation stops what runs, skips what has not started (withdrawing
launches still queued in the outbox) and ends the run once nothing is
active — exit handlers excepted: they run to the end and start when what they
guard has finished. Completion is an O(1) check of the ``unfinished``
counter after every change.
"""

from __future__ import annotations

from datetime import datetime

from runner.core import names
from runner.core.actions import (
    LaunchStep,
    PublishEvent,
    StopStep,
    launch_action_id,
    publish_action_id,
    stop_action_id,
)
from runner.core.flow import ready, settle, skip
from runner.core.plan import Plan, TaskPlan
from runner.core.resolve import resolve_parameters
from runner.core.state import LoopState, RunState, RunStatus, StepState, StepStatus
from runner.core.transition import Transition
from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import (
    ErrorInfo,
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
    state = _requested_state(event, now)
    data = event.data
    assert isinstance(data, RunRequested)
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
    for name in plan.top:
        node = plan.node(name)
        if isinstance(node, TaskPlan):
            state.steps[name] = StepState(waiting_on=len(node.parents))
        else:
            state.loops[name] = LoopState(waiting_on=len(node.parents))
    state.unfinished = len(plan.top)
    tr.publish(EventKind.RUN_STARTED, RunStarted(pipeline_digest=plan.digest, steps=len(plan)))
    for root in plan.roots:
        if state.steps.get(root, state.loops.get(root)) is not None:
            _ready_if_pending(tr, root)
    complete_if_done(tr)
    return tr


def _requested_state(event: Event, now: datetime) -> RunState:
    """A run's state as its ``run.requested`` describes it (no steps yet)."""
    data = event.data
    assert isinstance(data, RunRequested)
    return RunState(
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


def unloadable_run(event: Event, error: ErrorInfo, now: datetime) -> RunState:
    """The record of a requested run whose pipeline spec cannot be loaded: failed at
    once, with ``run.failed`` in its outbox — so ``runner status`` and the event
    stream agree. No plan is needed (there is none to be had)."""
    state = _requested_state(event, now)
    data = event.data
    assert isinstance(data, RunRequested)
    state.parameters = dict(data.parameters)
    state.status = RunStatus.FAILED
    state.finished_at = now
    state.error = error
    failed = make_event(
        EventKind.RUN_FAILED,
        run_id=state.run_id,
        pipeline=state.pipeline,
        data=RunFailed(error=error),
        time=now,
        traceparent=state.traceparent,
        tracestate=state.tracestate,
    )
    state.outbox.append(PublishEvent(id=publish_action_id(failed), event=failed))
    return state


def _ready_if_pending(tr: Transition, name: str) -> None:
    # An earlier root that was skipped or failed may have settled this one already.
    node = tr.state.steps.get(name) or tr.state.loops[name]
    if node.status is StepStatus.PENDING:
        ready(tr, name)


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
    withdrawn: list[str] = []
    frontier = list(state.active.items())
    for name, attempt in frontier:
        if tr.plan.task_of_step(name).exit_handler:
            continue  # an exit handler finishes what it does, cancelled or not
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
            withdrawn.append(name)
    if withdrawn:
        ids = {launch_action_id(state.run_id, n, state.active[n]) for n in withdrawn}
        state.outbox = [a for a in state.outbox if a.id not in ids]
    for name in withdrawn:
        tr.finish(name, StepStatus.SKIPPED)
        tr.publish(EventKind.STEP_SKIPPED, skipped, step=name)
        settle(tr, name, skipped)
    # Every pending node lies below an active step or inside a running loop (a
    # node is started as soon as its last parent is done): skipping below the
    # steps being stopped now finds them all without a full scan; loops end
    # once their open iterations have.
    for name, _ in frontier:
        if not state.steps[name].status.terminal:
            _skip_below(tr, name, skipped)
    complete_if_done(tr)


def _skip_below(tr: Transition, name: str, why: StepSkipped) -> None:
    """Skip the pending hard children of a step being stopped (they would be anyway)."""
    base, indexes = names.split(name)
    suffix = names.suffix(indexes)
    for child in tr.plan.tasks[base].children:
        node = tr.plan.node(child)
        instance = child + suffix
        state = tr.state.steps[instance] if isinstance(node, TaskPlan) else tr.state.loops[instance]
        if state.status is StepStatus.PENDING and base not in node.soft_parents:
            skip(tr, instance, why, node)


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
