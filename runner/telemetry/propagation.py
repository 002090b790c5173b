"""The caller's trace context, for a run request to continue.

``submit`` puts it in ``run.requested`` so that the run's trace joins the
caller's: the active OpenTelemetry span of the submitting process (a
script that traces, or a step submitting another pipeline), else the
``TRACEPARENT`` / ``TRACESTATE`` environment carriers (a CI job that
exports them). OpenTelemetry is consulted only if the process already
imported it: a process that never did can have no active span.
"""

from __future__ import annotations

import os
import sys

from runner.telemetry.ids import TraceContext

__all__ = ["caller_trace"]


def caller_trace() -> tuple[str | None, str | None]:
    """``(traceparent, tracestate)`` of the caller, or ``(None, None)``."""
    if "opentelemetry.trace" in sys.modules:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            traceparent = (
                f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
            )
            return traceparent, context.trace_state.to_header() or None
    parsed = TraceContext.parse(os.environ.get("TRACEPARENT"))
    if parsed is None:
        return None, None
    return parsed.traceparent, os.environ.get("TRACESTATE") or None
