"""An OTLP/HTTP trace receiver for tests: decodes protobuf with ``opentelemetry-proto``.

A threading HTTP server on 127.0.0.1 that accepts ``POST /v1/traces``
(``application/x-protobuf``, gzip or not), keeps every span with its
resource, and lets a test wait for a condition on them with a deadline.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


@dataclass(frozen=True)
class Received:
    """One span as the collector saw it (ids as hex)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status: int
    """0 unset, 1 ok, 2 error."""
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_times: dict[str, int] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name"))

    def run_id(self) -> str | None:
        found = self.attributes.get("runner.run_id", self.resource.get("runner.run_id"))
        return str(found) if found is not None else None


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    pairs: list[KeyValue] = list(items)
    return {kv.key: _value(kv.value) for kv in pairs}


class OtlpReceiver:
    """Collects spans; ``url`` is the base for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    def __init__(self) -> None:
        self._spans: list[Received] = []
        self._changed = threading.Condition()
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver._accept(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver")
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _accept(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        Received(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=_attributes(span.attributes),
                            resource=resource,
                            status=span.status.code,
                            events={e.name: _attributes(e.attributes) for e in span.events},
                            event_times={e.name: e.time_unix_nano for e in span.events},
                        )
                    )
        with self._changed:
            self.requests += 1
            self._spans.extend(found)
            self._changed.notify_all()

    def spans(self, run_id: str | None = None) -> list[Received]:
        with self._changed:
            spans = list(self._spans)
        return [s for s in spans if run_id is None or s.run_id() == run_id]

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float = 60) -> None:
        """Block until ``condition(spans)`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(list(self._spans)):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = sorted(s.name for s in self._spans)
                    raise AssertionError(f"spans never satisfied the condition; got {names}")
                self._changed.wait(left)


def trace_of(spans: list[Received], run_id: str) -> list[Received]:
    """Every span of the run's trace (found through any span naming the run)."""
    ids = {s.trace_id for s in spans if s.run_id() == run_id}
    assert len(ids) == 1, f"run {run_id} spans {len(ids)} traces: {ids}"
    return [s for s in spans if s.trace_id in ids]


def assert_one_tree(spans: list[Received]) -> Received:
    """One root, every parent present, no span twice; returns the root."""
    ids = [s.span_id for s in spans]
    assert len(ids) == len(set(ids)), "a span was exported twice"
    roots = [s for s in spans if not s.parent_id]
    assert len(roots) == 1, f"roots: {[r.name for r in roots]}"
    orphans = [s.name for s in spans if s.parent_id and s.parent_id not in set(ids)]
    assert not orphans, f"spans whose parent is missing: {orphans}"
    return roots[0]
