"""Trace ids derived from the run: stable across controllers, one trace per run."""

from __future__ import annotations

from datetime import UTC, datetime

from runner.core import RunState
from runner.events import EventKind, RunRequested, make_event
from runner.telemetry.ids import (
    TraceContext,
    adopt_run_request,
    attempt_trace,
    queued_at,
    run_context,
    step_context,
    step_tracestate,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SUBMITTER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def request(run_id: str = "r1", traceparent: str | None = None, tracestate: str | None = None):  # type: ignore[no-untyped-def]
    data = RunRequested(pipeline="demo", pipeline_digest="d", spec_uri="file:///s.json")
    return make_event(
        EventKind.RUN_REQUESTED,
        run_id=run_id,
        pipeline="demo",
        data=data,
        time=T0,
        component="api",
        traceparent=traceparent,
        tracestate=tracestate,
    )


def state_of(event) -> RunState:  # type: ignore[no-untyped-def]
    return RunState(
        run_id=event.run_id,
        pipeline="demo",
        pipeline_digest="d",
        spec_uri="file:///s.json",
        created_at=T0,
        traceparent=event.traceparent,
        tracestate=event.tracestate,
    )


def test_a_request_without_trace_context_gets_ids_derived_from_the_run() -> None:
    first, again = adopt_run_request(request()), adopt_run_request(request())
    other = adopt_run_request(request("r2"))
    context = TraceContext.parse(first.traceparent)
    assert context is not None
    assert context.sampled
    assert first.traceparent == again.traceparent  # a second controller agrees
    assert other.traceparent != first.traceparent
    assert first.tracestate is None
    run = run_context("r1", first.traceparent, first.tracestate)
    assert (run.trace_id, run.span_id, run.parent_id) == (context.trace_id, context.span_id, None)


def test_the_submitters_span_becomes_the_run_spans_parent() -> None:
    adopted = adopt_run_request(request(traceparent=SUBMITTER, tracestate="vendor=x"))
    run = run_context("r1", adopted.traceparent, adopted.tracestate)
    assert run.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"  # the submitter's trace
    assert run.span_id != "00f067aa0ba902b7"
    assert run.parent_id == "00f067aa0ba902b7"
    assert adopted.tracestate == "runner=p:00f067aa0ba902b7,vendor=x"
    # Adopting a recorded request again keeps its ids and never parents it to itself.
    assert adopt_run_request(adopted).traceparent == adopted.traceparent
    again = adopt_run_request(adopted)
    assert run_context("r1", again.traceparent, again.tracestate).parent_id == run.parent_id


def test_an_unsampled_submitter_keeps_the_run_unsampled() -> None:
    unsampled = SUBMITTER[:-2] + "00"
    run = TraceContext.parse(adopt_run_request(request(traceparent=unsampled)).traceparent)
    assert run is not None
    assert not run.sampled


def test_invalid_trace_context_is_ignored() -> None:
    for bad in ("garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "ff" + SUBMITTER[2:]):
        assert TraceContext.parse(bad) is None
        assert (
            adopt_run_request(request(traceparent=bad)).traceparent
            == adopt_run_request(request()).traceparent
        )


def test_other_events_are_not_touched() -> None:
    event = request().model_copy(update={"kind": EventKind.RUN_STARTED})
    assert adopt_run_request(event) is event


def test_step_spans_are_children_of_the_run_span_with_one_id_per_attempt() -> None:
    run = run_context("r1", adopt_run_request(request()).traceparent, None)
    one, two = step_context(run, "train", 1), step_context(run, "train", 2)
    assert one.trace_id == run.trace_id
    assert one.parent_id == run.span_id
    assert one.span_id != two.span_id != run.span_id
    assert step_context(run, "train", 1) == one
    assert step_context(run, "train[3]", 1).span_id != one.span_id


def test_a_state_recorded_before_tracing_gets_the_same_ids_as_adoption() -> None:
    adopted = adopt_run_request(request())
    assert run_context("r1", None, None).traceparent == adopted.traceparent


def test_the_queue_time_rides_in_tracestate() -> None:
    stamp = datetime(2024, 5, 1, 12, 0, 1, 250_000, tzinfo=UTC)
    state = step_tracestate("runner=p:00f067aa0ba902b7,vendor=x", stamp)
    assert state.startswith("runner=q:")
    assert state.endswith(",vendor=x")
    assert "p:" not in state  # the run's parent is not the step's business
    assert queued_at(state) == stamp
    assert queued_at("vendor=x") is None
    assert queued_at("runner=q:notanumber") is None
    assert queued_at(None) is None


def test_attempt_trace_names_the_attempts_span() -> None:
    state = state_of(adopt_run_request(request()))
    traceparent, tracestate = attempt_trace(state, "train", 2, T0)
    run = run_context(state.run_id, state.traceparent, state.tracestate)
    assert traceparent == step_context(run, "train", 2).traceparent
    assert queued_at(tracestate) == T0


def test_tracestate_stays_within_the_w3c_limit() -> None:
    long = ",".join(f"v{i}={'x' * 40}" for i in range(20))
    adopted = adopt_run_request(request(traceparent=SUBMITTER, tracestate=long))
    assert adopted.tracestate is not None
    assert len(adopted.tracestate) <= 512
    assert adopted.tracestate.startswith("runner=p:")
