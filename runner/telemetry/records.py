"""Which long spans an applied event ended, as plain records (no OpenTelemetry here).

The controller calls :func:`watch` before ``decide`` and :func:`ended` after
it, for every event it applies. An event that ends a step attempt (its
``step.succeeded``, ``step.failed`` or ``step.cached``, whether the step then
finishes or retries) yields that attempt's span; an event after which the run
is over yields the run's span. Timestamps come from the events and the run
state, ids from :mod:`runner.telemetry.ids`, so the records are the same
whichever controller applies the event, however often it restarted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runner.core import ACTIVE_STEP_STATUSES, Plan, RunState, RunStatus, StepStatus, TaskPlan
from runner.core.cache_key import effective_image
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, StepFailed
from runner.telemetry.ids import TraceContext, queued_at, run_context, step_context

__all__ = ["AttributeValue", "SpanRecord", "Watch", "ended", "watch"]

AttributeValue = str | bool | int | float | list[str]
_ENDS_ATTEMPT = frozenset({EventKind.STEP_SUCCEEDED, EventKind.STEP_FAILED, EventKind.STEP_CACHED})


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """A finished span with explicit ids and times, ready to be emitted."""

    name: str
    context: TraceContext
    """Its trace id, span id and parent id."""
    start: datetime
    end: datetime
    attributes: dict[str, AttributeValue]
    events: tuple[tuple[str, datetime], ...] = ()
    error: ErrorInfo | None = None
    """Set when the span ends in error: status ERROR and an ``exception`` event."""


@dataclass(frozen=True, slots=True)
class Watch:
    """What a step and the run looked like before an event was applied.

    ``decide`` changes the state in place (and clears a retried attempt's
    launch id and start time), so what the span needs is copied first.
    """

    event: Event
    run_over: bool
    status: StepStatus | None = None
    attempt: int = 0
    launch_id: str | None = None
    started_at: datetime | None = None
    cache_key: str | None = None


def watch(state: RunState | None, event: Event) -> Watch:
    """Copy what :func:`ended` needs before ``event`` is applied to ``state``."""
    run_over = state is not None and state.status.terminal
    step = state.steps.get(event.step) if state is not None and event.step else None
    if step is None or event.kind not in _ENDS_ATTEMPT:
        return Watch(event, run_over)
    return Watch(
        event,
        run_over,
        status=step.status,
        attempt=step.attempt,
        launch_id=step.launch_id,
        started_at=step.started_at,
        cache_key=step.cache_key,
    )


def ended(before: Watch, state: RunState, plan: Plan, executor: str) -> list[SpanRecord]:
    """The spans that applying ``before.event`` ended (usually none)."""
    records = []
    step = _attempt_record(before, state, plan, executor)
    if step is not None:
        records.append(step)
    if not before.run_over and state.status.terminal:
        records.append(run_record(state))
    return records


def _attempt_record(before: Watch, state: RunState, plan: Plan, executor: str) -> SpanRecord | None:
    event = before.event
    if before.status not in ACTIVE_STEP_STATUSES or event.step is None:
        return None
    after = state.steps.get(event.step)
    if after is None or (after.status, after.attempt) == (before.status, before.attempt):
        return None  # not the current attempt, or already applied: nothing ended
    run = run_context(state.run_id, state.traceparent, state.tracestate)
    end = event.time
    queued = queued_at(event.tracestate)
    start = min(queued or before.started_at or end, end)
    marks = [("queued", queued)] if queued else []
    if before.started_at is not None:
        marks.append(("started", before.started_at))
    outcome, error = _outcome(event, after.status, after.attempt != before.attempt)
    attributes: dict[str, AttributeValue] = {
        "runner.run_id": state.run_id,
        "runner.pipeline": state.pipeline,
        "runner.step": event.step,
        "runner.attempt": before.attempt,
        "runner.status": outcome,
        "runner.cached": outcome == "cached",
        "runner.executor": "cache" if outcome == "cached" else executor,
    }
    attributes.update(_task_attributes(plan, event.step))
    optional = {"runner.launch_id": before.launch_id, "runner.cache_key": before.cache_key}
    attributes.update({k: v for k, v in optional.items() if v})
    if error is not None:
        attributes.update(_error_attributes(error))
    return SpanRecord(
        name=f"step {event.step}",
        context=step_context(run, event.step, before.attempt),
        start=start,
        end=end,
        attributes=attributes,
        events=tuple((name, at) for name, at in marks if at is not None),
        error=error if outcome not in ("succeeded", "cached", "cancelled") else None,
    )


def _outcome(event: Event, status: StepStatus, retried: bool) -> tuple[str, ErrorInfo | None]:
    data = event.data
    error = data.error if isinstance(data, StepFailed) else None
    if status is StepStatus.CANCELLED:
        return "cancelled", error
    if retried:
        return "retried", error
    return status.value, error


def _task_attributes(plan: Plan, step: str) -> dict[str, AttributeValue]:
    task = _task_plan(plan, step)
    if task is None:
        return {}
    attributes: dict[str, AttributeValue] = {
        "runner.task": task.task.name,
        "runner.component": task.component.name,
        "runner.upstream": list(task.parents),
    }
    image = effective_image(task.component, task.task)
    if image:
        attributes["runner.image"] = image
    resources = task.task.resources
    if resources.gpu:
        attributes["runner.gpu.count"] = resources.gpu
    if resources.accelerator:
        attributes["runner.gpu.accelerator"] = resources.accelerator
    return attributes


def _task_plan(plan: Plan, step: str) -> TaskPlan | None:
    # A step of a loop iteration is named ``task[i]``.
    return plan.tasks.get(step) or plan.tasks.get(step.partition("[")[0])


def _error_attributes(error: ErrorInfo) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {"runner.exit_reason": error.reason}
    if error.exit_code is not None:
        attributes["runner.exit_code"] = error.exit_code
    if error.signal is not None:
        attributes["runner.signal"] = error.signal
    return attributes


def run_record(state: RunState) -> SpanRecord:
    """The run's span: from the request to the run's final event."""
    end = state.finished_at or state.started_at or state.created_at
    attributes: dict[str, AttributeValue] = {
        "runner.run_id": state.run_id,
        "runner.pipeline": state.pipeline,
        "runner.pipeline.digest": state.pipeline_digest,
        "runner.experiment": state.experiment,
        "runner.status": state.status.value,
        "runner.parameters": sorted(state.parameters),
        "runner.requested_by": state.requested_by,
        "runner.steps": len(state.steps),
        "runner.no_cache": state.no_cache,
    }
    if state.version:
        attributes["runner.version"] = state.version
    if state.error is not None:
        attributes.update(_error_attributes(state.error))
        if state.error.step:
            attributes["runner.failed_step"] = state.error.step
    failed = state.status is RunStatus.FAILED
    return SpanRecord(
        name=f"run {state.pipeline}",
        context=run_context(state.run_id, state.traceparent, state.tracestate),
        start=min(state.created_at, end),
        end=end,
        attributes=attributes,
        events=tuple(_run_marks(state)),
        error=state.error if failed else None,
    )


def _run_marks(state: RunState) -> list[tuple[str, datetime]]:
    marks = []
    if state.started_at is not None:
        marks.append(("started", state.started_at))
    if state.cancel_reason is not None and state.finished_at is not None:
        marks.append(("cancelled", state.finished_at))
    return marks
