"""The controller's tracer writes OTLP/JSON lines with the derived ids and exact times."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import context

from runner.core import RunState
from runner.telemetry.config import TelemetrySettings
from runner.telemetry.files import JsonLinesExporter
from runner.telemetry.ids import step_context
from runner.telemetry.runs import OtelRunTracer
from runner.telemetry.setup import start_telemetry
from runner.telemetry.waterfall import SpanView, parse_spans, read_requests
from tests.unit.telemetry.driver import Run


@pytest.fixture
def tracer(tmp_path: Path) -> Iterator[OtelRunTracer]:
    tracer = OtelRunTracer(TelemetrySettings(trace_dir=tmp_path), executor="local")
    try:
        yield tracer
    finally:
        tracer.shutdown()


def spans_of(tmp_path: Path, run_id: str = "r1") -> dict[str, SpanView]:
    return {s.name: s for s in parse_spans(read_requests(tmp_path, run_id))}


def ns(run: Run, seconds: float) -> int:
    return int((run.now.timestamp() + seconds) * 1e9)


def test_run_and_step_spans_carry_their_derived_ids_and_times(
    tmp_path: Path, tracer: OtelRunTracer
) -> None:
    run = Run()
    run.request()
    run.run_attempt("prep")
    run.run_attempt("train", fail=True)
    run.tick()
    run.run_attempt("train", attempt=2)
    for record in run.records:
        tracer.emit(record)
    tracer.shutdown()
    spans = parse_spans(read_requests(tmp_path, "r1"))
    assert {s.trace_id for s in spans} == {run.run.trace_id}
    by_id = {s.span_id: s for s in spans}
    root = by_id[run.run.span_id]
    assert (root.name, root.parent_id, root.status) == ("run demo", "", "unset")
    assert root.end_ns == ns(run, 0)
    failed = by_id[step_context(run.run, "train", 1).span_id]
    assert failed.parent_id == root.span_id
    assert failed.status == "error"
    assert failed.message == "Exception: bad"
    assert failed.attributes["runner.status"] == "retried"
    retried = by_id[step_context(run.run, "train", 2).span_id]
    assert retried.status == "unset"
    assert retried.attributes["runner.attempt"] == 2
    assert retried.end_ns == root.end_ns
    assert retried.attributes["runner.upstream"] == ["prep"]
    assert retried.service == "runner-controller"


def test_the_exception_of_a_failed_attempt_is_a_span_event(
    tmp_path: Path, tracer: OtelRunTracer
) -> None:
    run = Run()
    run.request()
    run.run_attempt("prep")
    (record,) = run.run_attempt("train", fail=True)
    tracer.emit(record)
    tracer.shutdown()
    (line,) = (tmp_path / "r1").glob("controller-*.jsonl")
    (request,) = [json.loads(text) for text in line.read_text().splitlines()]
    (span,) = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    events = {e["name"]: e for e in span["events"]}
    assert set(events) == {"queued", "started", "exception"}
    exception = {a["key"]: a["value"] for a in events["exception"]["attributes"]}
    assert exception["exception.type"] == {"stringValue": "ValueError"}
    assert exception["exception.stacktrace"] == {"stringValue": "tb"}
    # The OTLP/JSON mapping: hex ids, 64-bit integers as strings, enums as numbers.
    assert len(span["traceId"]) == 32
    assert len(span["spanId"]) == 16
    assert span["kind"] == 1
    assert span["status"]["code"] == 2
    attributes = {a["key"]: a["value"] for a in span["attributes"]}
    assert attributes["runner.attempt"] == {"intValue": "1"}
    assert attributes["runner.cached"] == {"boolValue": False}
    assert attributes["runner.upstream"] == {"arrayValue": {"values": [{"stringValue": "prep"}]}}


def test_controller_work_nests_under_the_handling_span(
    tmp_path: Path, tracer: OtelRunTracer
) -> None:
    run = Run()
    run.request()
    state = run.state
    assert isinstance(state, RunState)
    assert state.outbox  # the run's first launches are to be performed
    with tracer.handling(state, [], tracer.clock()), tracer.work("launch", state, "prep"):
        inherited = context.get_current()  # what a task created here (a retry timer) copies
    with tracer.work("cache lookup", state, "train"):
        pass  # no handling span around it
    token = context.attach(inherited)
    try:
        with tracer.work("launch", state, "train"):
            pass  # the timer fires after the handling span ended: under the run instead
    finally:
        context.detach(token)
    state.outbox.clear()
    with tracer.handling(state, [], tracer.clock()):
        pass  # nothing to perform: no span
    tracer.shutdown()
    spans = spans_of(tmp_path)
    assert set(spans) == {"handle events", "launch prep", "cache lookup train", "launch train"}
    assert spans["launch train"].parent_id == run.run.span_id
    assert spans["handle events"].parent_id == run.run.span_id
    assert spans["launch prep"].parent_id == spans["handle events"].span_id
    assert spans["cache lookup train"].parent_id == run.run.span_id
    assert spans["launch prep"].attributes["runner.step"] == "prep"


def test_spans_without_a_run_are_not_written(tmp_path: Path) -> None:
    telemetry = start_telemetry(
        TelemetrySettings(trace_dir=tmp_path), service="t", file_name="t.jsonl"
    )
    assert telemetry is not None
    tracer = telemetry.tracer("test")
    tracer.start_span("orphan").end()
    tracer.start_span("kept", attributes={"runner.run_id": "r9"}).end()
    tracer.start_span("escape", attributes={"runner.run_id": "../r9"}).end()
    telemetry.shutdown()
    assert [p.name for p in tmp_path.iterdir()] == ["r9"]
    assert set(spans_of(tmp_path, "r9")) == {"kept"}


def test_an_unwritable_trace_directory_loses_spans_not_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    exporter = JsonLinesExporter(blocker, "x.jsonl", run_id="r1")
    telemetry = start_telemetry(TelemetrySettings(trace_dir=tmp_path), service="t", file_name="t")
    assert telemetry is not None
    span = telemetry.tracer("test").start_span("s")
    span.end()
    assert exporter.export([span]).name == "FAILURE"  # type: ignore[list-item]
    telemetry.shutdown()


def test_an_unreachable_collector_costs_at_most_the_flush_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3")
    settings = TelemetrySettings(endpoint=f"http://127.0.0.1:{port}", flush_timeout=0.2)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    telemetry = start_telemetry(settings, service="t", file_name="t")
    assert telemetry is not None
    telemetry.tracer("test").start_span("lost").end()
    with caplog.at_level(logging.WARNING, logger="runner.telemetry"):
        telemetry.shutdown()  # returns after flush_timeout; the export gives up later
    assert "spans not exported within 0.2s" in caplog.text


def test_a_run_requested_from_a_traced_caller_is_a_child_of_the_callers_span(
    tmp_path: Path, tracer: OtelRunTracer
) -> None:
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    run = Run()
    run.request(traceparent=caller)
    run.run_attempt("prep")
    run.run_attempt("train")
    for record in run.records:
        tracer.emit(record)
    tracer.shutdown()
    spans = spans_of(tmp_path)
    assert {s.trace_id for s in spans.values()} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert spans["run demo"].parent_id == "00f067aa0ba902b7"
    assert spans["step train"].parent_id == spans["run demo"].span_id
