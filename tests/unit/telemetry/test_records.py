"""Which spans an applied event ends: driven through the real ``decide``."""

from __future__ import annotations

from datetime import timedelta

from runner.events import EventKind, StepCached, StepStarted, StepSucceeded
from runner.telemetry.ids import step_context
from tests.unit.telemetry.driver import PLAN, T0, Run


def test_a_step_attempt_span_runs_from_queued_to_its_end_under_the_run_span() -> None:
    run = Run()
    run.request()
    assert run.records == []
    (record,) = run.run_attempt("prep")
    assert record.name == "step prep"
    assert record.context == step_context(run.run, "prep", 1)
    assert record.context.parent_id == run.run.span_id
    assert (record.start, record.end) == (T0, T0 + timedelta(seconds=3))
    assert record.events == (("queued", T0), ("started", T0 + timedelta(seconds=1)))
    assert record.error is None
    attributes = record.attributes
    assert attributes["runner.status"] == "succeeded"
    assert attributes["runner.cached"] is False
    assert attributes["runner.executor"] == "local"
    assert attributes["runner.launch_id"] == "prep/1"
    assert attributes["runner.upstream"] == []
    assert (attributes["runner.run_id"], attributes["runner.attempt"]) == ("r1", 1)


def test_a_retried_attempt_ends_in_error_and_the_next_attempt_gets_its_own_span() -> None:
    run = Run()
    run.request()
    run.run_attempt("prep")
    (first,) = run.run_attempt("train", fail=True)
    assert first.attributes["runner.status"] == "retried"
    assert first.attributes["runner.exit_reason"] == "Exception"
    assert first.error is not None
    assert first.error.type == "ValueError"
    assert first.attributes["runner.gpu.count"] == 1
    assert first.attributes["runner.gpu.accelerator"] == "nvidia-h100"
    assert first.attributes["runner.image"] == "python:3.11-slim"
    assert first.attributes["runner.upstream"] == ["prep"]
    run.tick(5)
    second, run_span = run.run_attempt("train", attempt=2)
    assert second.context == step_context(run.run, "train", 2)
    assert second.context.span_id != first.context.span_id
    assert second.error is None
    assert second.attributes["runner.attempt"] == 2
    # The run's span ends with the run: the root of the trace.
    assert run_span.name == "run demo"
    assert run_span.context.span_id == run.run.span_id
    assert run_span.context.parent_id is None
    assert run_span.start == T0
    assert run_span.end == run.now
    assert run_span.attributes["runner.status"] == "succeeded"
    assert run_span.attributes["runner.pipeline.digest"] == PLAN.digest
    assert run_span.error is None


def test_a_failed_run_ends_its_span_in_error() -> None:
    run = Run()
    run.request()
    run.run_attempt("prep")
    run.run_attempt("train", fail=True)
    last, run_span = run.run_attempt("train", attempt=2, fail=True)
    assert last.attributes["runner.status"] == "failed"
    assert last.error is not None
    assert run_span.attributes["runner.status"] == "failed"
    assert run_span.attributes["runner.failed_step"] == "train"
    assert run_span.error is not None


def test_a_redelivered_event_ends_nothing_twice() -> None:
    run = Run()
    run.request()
    run.run_attempt("prep")
    again = run.step_event(
        EventKind.STEP_SUCCEEDED, "prep", 1, StepSucceeded(attempt=1, parameters={"output": 1})
    )
    assert run.apply(again) == []


def test_a_cache_hit_is_a_short_span_marked_cached() -> None:
    run = Run()
    run.request()
    assert run.state is not None
    key = run.state.steps["prep"].cache_key
    assert key is not None
    run.queued[("prep", 1)] = run.now
    run.tick(0.01)
    data = StepCached(
        cache_key=key, parameters={"output": 1}, producer_run="r0", producer_step="prep"
    )
    (record,) = run.apply(run.step_event(EventKind.STEP_CACHED, "prep", 1, data))
    assert record.attributes["runner.cached"] is True
    assert record.attributes["runner.executor"] == "cache"
    assert record.end - record.start == timedelta(seconds=0.01)


def test_without_a_queue_time_the_span_starts_when_the_step_did() -> None:
    run = Run()
    run.request()
    run.apply(run.step_event(EventKind.STEP_STARTED, "prep", 1, StepStarted(attempt=1)))
    run.tick(2)
    succeeded = StepSucceeded(attempt=1, parameters={"output": 1})
    event = run.step_event(EventKind.STEP_SUCCEEDED, "prep", 1, succeeded)
    (record,) = run.apply(event.model_copy(update={"tracestate": None}))
    assert record.start == T0
    assert record.events == (("started", T0),)
