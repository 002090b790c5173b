"""Step events: launched, started, succeeded, cached, failed (and retries).

Every handler first checks that the event is for the step's *current*
attempt while the step is active (waiting, launching or running); anything
else — a duplicate, an old attempt, a step already finished, a finished run —
changes nothing. That state check is the deduplication: no set of applied
event ids is kept. What a finished step unlocks is :mod:`runner.core.flow`'s
business. Cost per event: O(out-degree) of the step, plus O(descendants)
when a failure skips them (each step is skipped once), plus O(body) per loop
iteration it lets start.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runner.core.actions import StopStep, stop_action_id
from runner.core.flow import fail, launch, settle
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
    StepStarted,
    StepSucceeded,
)

CANCELLED_REASON = "Cancelled"
"""``ErrorInfo.reason`` of a step stopped on purpose: never retried."""
LOST_REASONS = frozenset({"Lost", "NodeLost"})
"""Reasons of an attempt that died with its machine or while no controller
watched it: not the step's fault, so it is relaunched at once."""
LOST_RELAUNCHES = 3
"""How many lost attempts of one step are relaunched before the step fails
(bounded, so a step that takes its machine down cannot loop forever)."""


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
    settle(tr, name)


def on_failed(tr: Transition, name: str, event: Event) -> None:
    data = event.data
    assert isinstance(data, StepFailed)
    step = current_step(tr, name, data.attempt)
    if step is None:
        return
    error = data.error if data.error.step else data.error.model_copy(update={"step": name})
    task = tr.plan.task_of_step(name)
    if tr.state.status is RunStatus.CANCELLING and not task.exit_handler:
        step.error = error
        tr.finish(name, StepStatus.CANCELLED, event.time)
        settle(tr, name)
    elif error.reason in LOST_REASONS and step.lost < LOST_RELAUNCHES:
        step.lost += 1
        _retry(tr, name, data.attempt, error, delay=0.0)
    elif (
        error.reason != CANCELLED_REASON and data.attempt - step.lost < task.task.retry.max_attempts
    ):
        _retry(tr, name, data.attempt, error)
    else:
        fail(tr, name, error, at=event.time)


def _retry(
    tr: Transition, name: str, failed_attempt: int, error: ErrorInfo, delay: float | None = None
) -> None:
    """Relaunch after the retry policy's backoff (``delay`` overrides it)."""
    step = tr.state.steps[name]
    if delay is None:
        delay = tr.plan.task_of_step(name).task.retry.delay(failed_attempt - step.lost)
    retry_at = tr.now + timedelta(seconds=delay)
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
