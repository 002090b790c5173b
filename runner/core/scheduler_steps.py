"""Step transitions: launch, progress, success, failure, retry and skip.

Every handler first checks that the event is for the step's *current*
attempt while the step is active (waiting, launching or running); anything
else — a duplicate, an old attempt, a step already finished, a finished run —
changes nothing. That state check is the deduplication: no set of applied
event ids is kept. Cost per event: O(out-degree) of the step, plus
O(descendants) when a failure skips them (each step is skipped once).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from runner.core.actions import LaunchStep, StopStep, launch_action_id, stop_action_id
from runner.core.cache_key import compute_cache_key
from runner.core.resolve import StepInputs, resolve_inputs
from runner.core.state import ACTIVE_STEP_STATUSES, RunStatus, StepState, StepStatus
from runner.core.transition import Transition
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.events.models import (
    ArtifactRef,
    ErrorInfo,
    StepCached,
    StepFailed,
    StepLaunched,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
)

CANCELLED_REASON = "Cancelled"
"""``ErrorInfo.reason`` of a step stopped on purpose: never retried."""


def current_step(tr: Transition, name: str, attempt: int) -> StepState | None:
    """The step if ``attempt`` is its current attempt and it is still active."""
    step = tr.state.steps[name]
    if step.status in ACTIVE_STEP_STATUSES and step.attempt == attempt:
        return step
    return None


def on_launched(tr: Transition, name: str, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepLaunched)
    step = current_step(tr, name, data.attempt)
    if step is None:
        _stop_late_launch(tr, name, data)
    elif step.status is not StepStatus.RUNNING or step.launch_id != data.launch_id:
        tr.activate(name, StepStatus.RUNNING, data.attempt)
        step.launch_id = data.launch_id


def _stop_late_launch(tr: Transition, name: str, data: StepLaunched) -> None:
    """A launch that raced a cancellation (its step was skipped first): stop it.

    Recording the launch id makes a duplicate of this event a no-op.
    """
    step = tr.state.steps[name]
    if step.status is StepStatus.SKIPPED and step.attempt == data.attempt and not step.launch_id:
        step.launch_id = data.launch_id
        tr.emit(
            StopStep(
                id=stop_action_id(tr.state.run_id, name, data.attempt),
                run_id=tr.state.run_id,
                pipeline=tr.state.pipeline,
                step=name,
                attempt=data.attempt,
                launch_id=data.launch_id,
            )
        )


def on_started(tr: Transition, name: str, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepStarted)
    step = current_step(tr, name, data.attempt)
    if step is not None and (step.status is not StepStatus.RUNNING or step.started_at is None):
        tr.activate(name, StepStatus.RUNNING, data.attempt)
        step.started_at = event.time


def on_succeeded(tr: Transition, name: str, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepSucceeded)
    if current_step(tr, name, data.attempt) is not None:
        _complete(tr, name, event, StepStatus.SUCCEEDED, data.outputs, data.parameters)


def on_cached(tr: Transition, name: str, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepCached)
    step = tr.state.steps[name]
    # No attempt in the data: the cache key ties the hit to the launch we asked for.
    if step.status in ACTIVE_STEP_STATUSES and step.cache_key == data.cache_key:
        step.cached = True
        _complete(tr, name, event, StepStatus.CACHED, data.outputs, data.parameters)


def _complete(
    tr: Transition,
    name: str,
    event: Event,
    status: StepStatus,
    outputs: dict[str, ArtifactRef],
    parameters: dict[str, Any],
) -> None:
    step = tr.finish(name, status, event.time)
    step.outputs = dict(outputs)
    step.parameters = dict(parameters)
    step.error = None
    release_children(tr, name)


def release_children(tr: Transition, name: str) -> None:
    """One parent fewer for each child; launch those that became ready.

    ``waiting_on`` is decremented even when the child will not launch (the run
    is cancelling), so it always equals the number of parents not yet done.
    """
    launchable = tr.state.status is RunStatus.RUNNING
    for child in tr.plan.tasks[name].children:
        step = tr.state.steps[child]
        step.waiting_on -= 1
        if launchable and step.waiting_on == 0 and step.status is StepStatus.PENDING:
            launch(tr, child, attempt=1)


def launch(tr: Transition, name: str, attempt: int, not_before: datetime | None = None) -> None:
    """Emit a LaunchStep with resolved inputs, or fail the step if an input is missing.

    With ``not_before`` (a retry) the step waits; otherwise it is launching.
    """
    inputs = resolve_inputs(tr.plan.tasks[name], tr.state.parameters, tr.state.steps)
    if isinstance(inputs, ErrorInfo):
        _fail_unlaunched(tr, name, attempt, inputs)
        return
    status = StepStatus.LAUNCHING if not_before is None else StepStatus.WAITING
    step = tr.activate(name, status, attempt)
    step.cache_key = _cache_key(tr, name, inputs)
    tr.emit(
        LaunchStep(
            id=launch_action_id(tr.state.run_id, name, attempt),
            run_id=tr.state.run_id,
            pipeline=tr.state.pipeline,
            step=name,
            attempt=attempt,
            task=name,
            parameters=inputs.parameters,
            artifacts=inputs.artifacts,
            cache_key=step.cache_key,
            not_before=not_before,
        )
    )


def _cache_key(tr: Transition, name: str, inputs: StepInputs) -> str | None:
    task = tr.plan.tasks[name]
    if tr.state.no_cache or not task.task.caching:
        return None
    try:
        return compute_cache_key(task.component, task.task, inputs.parameters, inputs.artifacts)
    except ValueError:
        # An upstream returned a non-JSON value (NaN): run the step, just uncached.
        return None


def _fail_unlaunched(tr: Transition, name: str, attempt: int, error: ErrorInfo) -> None:
    """The step cannot even start (an input is missing): fail it without retrying.

    The controller publishes the ``step.failed`` itself; its echo finds the step
    already failed and changes nothing.
    """
    tr.state.steps[name].attempt = attempt
    tr.publish(
        EventKind.STEP_FAILED,
        StepFailed(attempt=attempt, error=error),
        step=name,
        attempt=attempt,
    )
    fail(tr, name, error)


def on_failed(tr: Transition, name: str, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepFailed)
    step = current_step(tr, name, data.attempt)
    if step is None:
        return
    error = data.error if data.error.step else data.error.model_copy(update={"step": name})
    if tr.state.status is RunStatus.CANCELLING:
        step.error = error
        tr.finish(name, StepStatus.CANCELLED, event.time)
    elif (
        error.reason != CANCELLED_REASON
        and data.attempt < tr.plan.tasks[name].task.retry.max_attempts
    ):
        _retry(tr, name, data.attempt, error)
    else:
        fail(tr, name, error, at=event.time)


def _retry(tr: Transition, name: str, failed_attempt: int, error: ErrorInfo) -> None:
    delay = tr.plan.tasks[name].task.retry.delay(failed_attempt)
    retry_at = tr.now + timedelta(seconds=delay)
    step = tr.state.steps[name]
    step.error = error
    step.retry_at = retry_at
    step.launch_id = None
    step.started_at = None
    tr.publish(
        EventKind.STEP_RETRYING,
        StepRetrying(
            attempt=failed_attempt,
            next_attempt=failed_attempt + 1,
            delay_seconds=delay,
            retry_at=retry_at,
            error=error,
        ),
        step=name,
        attempt=failed_attempt,
    )
    launch(tr, name, failed_attempt + 1, not_before=retry_at)


def fail(tr: Transition, name: str, error: ErrorInfo, at: datetime | None = None) -> None:
    """Fail a step for good: record the run's first error, skip its descendants."""
    step = tr.finish(name, StepStatus.FAILED, at)
    step.error = error
    if tr.state.error is None:
        tr.state.error = error
    skip_descendants(
        tr,
        [name],
        StepSkipped(
            reason="upstream_failed", upstream=name, message=f"upstream step {name!r} failed"
        ),
    )


def skip_descendants(tr: Transition, roots: list[str], data: StepSkipped) -> None:
    """Skip every pending step below ``roots``, transitively.

    Only pending steps are entered, and a skipped step is no longer pending,
    so each step is visited once per run: the cost is the work done.
    """
    stack = list(roots)
    while stack:
        for child in tr.plan.tasks[stack.pop()].children:
            if tr.state.steps[child].status is StepStatus.PENDING:
                tr.finish(child, StepStatus.SKIPPED)
                tr.publish(EventKind.STEP_SKIPPED, data, step=child)
                stack.append(child)
