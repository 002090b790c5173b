"""Tracing inside a step process: its spans, and the user's, under the attempt's span.

The controller names the attempt's span in the step's ``traceparent`` (the
request, and ``TRACEPARENT`` in the environment); that span itself is emitted
by the controller when the attempt ends. Here the step process makes it the
current context, so that the spans it opens — fetching inputs, running the
component, uploading outputs, writing the cache manifest — and any span the
user's code opens with the standard OpenTelemetry API are its children.

The provider becomes the process's global one (user code reaches it through
``opentelemetry.trace.get_tracer``). OTLP export is batched and flushed when
the step is done (after it reported: flushing never delays the outcome);
the local file is written as each span ends, so a step killed right after
it reported (``runner run`` closing its stack) loses none. With tracing off nothing of the
OpenTelemetry SDK is imported: a step pays for tracing only when it traces.
Nothing here may fail the step: a bad setting is logged and tracing is off.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from runner.errors import ConfigError
from runner.telemetry.config import Export, load_telemetry_settings
from runner.telemetry.ids import TraceContext

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from runner.telemetry.setup import ProcessTelemetry

__all__ = ["StepTracing"]

log = logging.getLogger(__name__)


class StepTracing:
    """The tracing of one step process; inert when tracing is off."""

    def __init__(
        self, telemetry: ProcessTelemetry | None = None, token: object | None = None
    ) -> None:
        self.telemetry = telemetry
        self._token = token
        self._tracer: Tracer | None = telemetry.tracer("runner.step") if telemetry else None

    @classmethod
    def start(
        cls,
        *,
        run_id: str,
        step: str,
        attempt: int,
        traceparent: str | None,
        tracestate: str | None,
    ) -> StepTracing:
        """Trace as the environment says, under ``traceparent`` (else ``$TRACEPARENT``)."""
        try:
            settings = load_telemetry_settings()
        except ConfigError as exc:
            log.warning("tracing is off for this step: %s", exc)
            return cls()
        if settings.export() is Export.NONE:
            return cls()
        from runner.telemetry.setup import start_telemetry

        try:
            telemetry = start_telemetry(
                settings,
                service="runner-step",
                file_name=f"step-{step}-{attempt}-{os.getpid()}.jsonl",
                run_id=run_id,
                resource={"runner.run_id": run_id, "runner.step": step, "runner.attempt": attempt},
                write_through=True,
            )
        except ConfigError as exc:
            log.warning("tracing is off for this step: %s", exc)
            return cls()
        if telemetry is None:
            return cls()
        if traceparent is None:
            traceparent = os.environ.get("TRACEPARENT")
            tracestate = os.environ.get("TRACESTATE")
        return cls(telemetry, _enter(telemetry, traceparent, tracestate))

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @contextmanager
    def span(self, name: str, **attributes: str | int | bool) -> Iterator[None]:
        """A span of the step's own work, current while the block runs.

        A failure marks it ERROR with the exception — the user's own
        exception rather than the wrapper the step raises around it.
        """
        if self._tracer is None:
            yield
            return
        from opentelemetry.trace import Status, StatusCode

        with self._tracer.start_as_current_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield
            except Exception as exc:
                cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
                span.record_exception(cause)
                span.set_status(Status(StatusCode.ERROR, f"{type(cause).__name__}: {cause}"))
                raise

    def shutdown(self) -> None:
        """Export what is left (bounded by ``RUNNER_TRACE_FLUSH_TIMEOUT``)."""
        if self.telemetry is None:
            return
        if self._token is not None:
            from opentelemetry import context

            context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        self.telemetry.shutdown()


def _enter(telemetry: ProcessTelemetry, traceparent: str | None, tracestate: str | None) -> Any:
    """Make the provider global and the attempt's span the current context."""
    from opentelemetry import context, trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    # Only the first provider of a process can be global; a second one (a test
    # running two steps in one process) still traces, through its own tracer.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(telemetry.provider)
    parent = TraceContext.parse(traceparent)
    if parent is None:
        return None
    state = TraceState.from_header([tracestate]) if tracestate else None
    span_context = SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(parent.flags, 16)),
        trace_state=state,
    )
    return context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
