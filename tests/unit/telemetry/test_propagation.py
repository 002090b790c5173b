"""``submit`` continues the caller's trace: its active span, else the environment."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from runner.telemetry.propagation import caller_trace

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def _no_carriers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEPARENT", raising=False)
    monkeypatch.delenv("TRACESTATE", raising=False)


def test_nothing_to_continue() -> None:
    assert caller_trace() == (None, None)


def test_the_environment_carriers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEPARENT", CALLER)
    monkeypatch.setenv("TRACESTATE", "ci=1")
    assert caller_trace() == (CALLER, "ci=1")
    monkeypatch.setenv("TRACEPARENT", "not-a-traceparent")
    assert caller_trace() == (None, None)


def test_the_active_span_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEPARENT", CALLER)
    context = SpanContext(
        trace_id=0xAB,
        span_id=0xCD,
        is_remote=False,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("k", "v")]),
    )
    with trace.use_span(NonRecordingSpan(context)):
        assert caller_trace() == (f"00-{0xAB:032x}-{0xCD:016x}-01", "k=v")
