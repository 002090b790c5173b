"""The controller's tracer: run and step spans with derived ids, and its own work.

Long spans (the run, each step attempt) are emitted when they end, from
:class:`~runner.telemetry.records.SpanRecord` s, with the ids and times the
records carry; only the controller that saved the transition emits them. A
controller killed between saving the state and exporting its batch loses
those spans (they were in its memory); one stopped normally flushes them.

Controller work — handling a run's events, each cache lookup and launch —
becomes short spans under the run span, with random ids.

Tracing never fails the controller: an error building or emitting a span is
logged and dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from runner.core import Plan, RunState
from runner.events.envelope import Event
from runner.telemetry.config import TelemetrySettings
from runner.telemetry.ids import TraceContext, run_context
from runner.telemetry.records import SpanRecord, Watch, ended, watch
from runner.telemetry.setup import derived_ids, start_telemetry
from runner.telemetry.tracer import RunTracer, SpanBatch

__all__ = ["OtelRunTracer", "remote_parent"]

log = logging.getLogger(__name__)

STEP_ENV_PASSED = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
)
"""The controller's settings its steps should trace with. Not headers (they may
hold credentials: steps get those from their own environment) and not the
service name (steps are ``runner-step``)."""


def remote_parent(context: TraceContext, span_id: str | None = None) -> Context:
    """An OpenTelemetry context whose current span is ``span_id`` (default: the context's)."""
    parent = SpanContext(
        trace_id=int(context.trace_id, 16),
        span_id=int(span_id or context.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(context.flags, 16)),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)


class OtelRunTracer(RunTracer):
    """Emits the run's spans through its own provider (never the global one)."""

    enabled = True

    def __init__(self, settings: TelemetrySettings, *, executor: str) -> None:
        telemetry = start_telemetry(
            settings, service="runner-controller", file_name=f"controller-{os.getpid()}.jsonl"
        )
        if telemetry is None:
            raise ValueError("OtelRunTracer needs settings that export somewhere")
        self.telemetry = telemetry
        self.tracer = telemetry.tracer("runner.controller")
        self.executor = executor
        self.env = {name: os.environ[name] for name in STEP_ENV_PASSED if name in os.environ}

    def batch(self) -> SpanBatch:
        return _Batch(self)

    def emit(self, record: SpanRecord) -> None:
        """Emit one finished span with its derived ids and explicit times."""
        ctx = record.context
        parent = remote_parent(ctx, ctx.parent_id) if ctx.parent_id else Context()
        with derived_ids(ctx.trace_id, ctx.span_id):
            span = self.tracer.start_span(
                record.name,
                context=parent,
                attributes=record.attributes,
                start_time=_ns(record.start),
            )
        for name, at in record.events:
            span.add_event(name, timestamp=_ns(at))
        if record.error is not None:
            error = record.error
            exception = {"exception.type": error.type or error.reason}
            exception["exception.message"] = error.message
            if error.traceback:
                exception["exception.stacktrace"] = error.traceback
            span.add_event("exception", exception, timestamp=_ns(record.end))
            span.set_status(Status(StatusCode.ERROR, f"{error.reason}: {error.message}"[:1024]))
        span.end(end_time=_ns(record.end))

    @contextmanager
    def handling(self, state: RunState, events: Sequence[Event], started_ns: int) -> Iterator[None]:
        if not state.outbox:  # nothing to do: an echo or a progress event, not worth a span
            yield
            return
        run = run_context(state.run_id, state.traceparent, state.tracestate)
        kinds = list(dict.fromkeys(e.kind.value for e in events))
        span = self.tracer.start_span(
            f"handle {kinds[0]}" if len(kinds) == 1 else "handle events",
            context=remote_parent(run),
            start_time=started_ns,
            attributes={
                "runner.run_id": state.run_id,
                "runner.events": len(events),
                "runner.event_kinds": kinds,
            },
        )
        with trace.use_span(span, end_on_exit=True):
            yield

    @contextmanager
    def work(self, name: str, state: RunState, step: str) -> Iterator[None]:
        run = run_context(state.run_id, state.traceparent, state.tracestate)
        span = trace.get_current_span()
        current = span.get_span_context()
        # Nest under the handling span while it lasts; a retry timer's task inherits
        # one that has ended, and its work belongs under the run instead.
        same_trace = span.is_recording() and f"{current.trace_id:032x}" == run.trace_id
        attributes = {"runner.run_id": state.run_id, "runner.step": step}
        with self.tracer.start_as_current_span(
            f"{name} {step}",
            context=None if same_trace else remote_parent(run),
            attributes=attributes,
        ):
            yield

    def step_env(self) -> dict[str, str]:
        return dict(self.env)

    def shutdown(self) -> None:
        self.telemetry.shutdown()


class _Batch(SpanBatch):
    def __init__(self, tracer: OtelRunTracer) -> None:
        self.tracer = tracer
        self.records: list[SpanRecord] = []

    def before(self, state: RunState | None, event: Event) -> Watch | None:
        return watch(state, event)

    def after(self, seen: Watch | None, state: RunState | None, plan: Plan) -> None:
        if seen is None or state is None:
            return
        try:
            self.records.extend(ended(seen, state, plan, self.tracer.executor))
        except Exception:  # tracing must never stop a run
            log.warning("could not record the spans of run %s", state.run_id, exc_info=True)

    def emit(self) -> None:
        records, self.records = self.records, []
        for record in records:
            try:
                self.tracer.emit(record)
            except Exception:
                log.warning("could not emit span %r", record.name, exc_info=True)
