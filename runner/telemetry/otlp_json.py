"""Spans as OTLP/JSON: the ``ExportTraceServiceRequest`` JSON mapping.

What the OpenTelemetry Collector's file exporter writes (one request per
line) and what Jaeger's UI loads. The mapping differs from protobuf's
generic JSON: trace and span ids are lowercase hex, 64-bit integers are
decimal strings, enums are integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link, SpanContext

__all__ = ["encode_spans", "merge_requests"]

_KIND_OFFSET = 1
"""OTLP numbers SpanKind from 1 (INTERNAL); the Python SDK from 0."""


def encode_spans(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest`` holding ``spans``, grouped by resource and scope."""
    by_resource: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}
    for span in spans:
        resource_key = id(span.resource)
        if resource_key not in by_resource:
            by_resource[resource_key] = (span.resource, {})
        scope = span.instrumentation_scope
        scope_key = (scope.name, scope.version or "") if scope else ("", "")
        by_resource[resource_key][1].setdefault(scope_key, []).append(_span(span))
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource.attributes)},
                "scopeSpans": [
                    {"scope": _scope(name, version), "spans": encoded}
                    for (name, version), encoded in scopes.items()
                ],
            }
            for resource, scopes in by_resource.values()
        ]
    }


def merge_requests(requests: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Requests concatenated into one (what ``--otlp-json`` writes)."""
    merged: list[Any] = []
    for request in requests:
        merged.extend(request.get("resourceSpans", []))
    return {"resourceSpans": merged}


def _scope(name: str, version: str) -> dict[str, str]:
    return {"name": name, "version": version} if version else {"name": name}


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None  # a span from the SDK always has one
    encoded: dict[str, Any] = {
        "traceId": _trace_id(context),
        "spanId": _span_id(context.span_id),
        "parentSpanId": _span_id(span.parent.span_id) if span.parent else "",
        "name": span.name,
        "kind": span.kind.value + _KIND_OFFSET,
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or span.start_time or 0),
        "attributes": _attributes(span.attributes or {}),
        "events": [
            {
                "timeUnixNano": str(event.timestamp),
                "name": event.name,
                "attributes": _attributes(event.attributes or {}),
            }
            for event in span.events
        ],
        "links": [_link(link) for link in span.links],
        "status": _status(span),
    }
    if context.trace_state:
        encoded["traceState"] = context.trace_state.to_header()
    return encoded


def _status(span: ReadableSpan) -> dict[str, Any]:
    status: dict[str, Any] = {"code": span.status.status_code.value}
    if span.status.description:
        status["message"] = span.status.description
    return status


def _link(link: Link) -> dict[str, Any]:
    return {
        "traceId": _trace_id(link.context),
        "spanId": _span_id(link.context.span_id),
        "attributes": _attributes(link.attributes or {}),
    }


def _trace_id(context: SpanContext) -> str:
    return f"{context.trace_id:032x}"


def _span_id(span_id: int) -> str:
    return f"{span_id:016x}"


def _attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in attributes.items()]


def _value(value: Any) -> dict[str, Any]:
    # bool before int: bool is an int subclass.
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"stringValue": value.decode("utf-8", "replace")}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}
