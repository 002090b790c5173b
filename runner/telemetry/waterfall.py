"""A run's recorded spans as a waterfall: rows in tree order and the critical path.

Reads the OTLP/JSON requests of :mod:`runner.telemetry.files` (the
collector's format, so a file from elsewhere works too), keeps one copy of
each span, orders them as a tree (the run, its step attempts, what ran
inside each step) and finds the critical path: from the step that ended
last, back through the upstream step that finished last before it started,
to a root — the chain of steps whose durations add up to the run's. The
terminal drawing is the CLI's (:mod:`runner.cli.trace`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SpanView",
    "Waterfall",
    "build_waterfall",
    "critical_path",
    "parse_spans",
    "read_requests",
    "run_dir",
]

CONTROLLER_WORK = ("handle ", "cache lookup ", "launch ")
"""Names of the controller's own short spans: shown with ``--all`` only."""
_STATUS = {0: "unset", 1: "ok", 2: "error"}


@dataclass(frozen=True, slots=True)
class SpanView:
    """One recorded span, as much of it as the waterfall needs."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status: str = "unset"
    message: str = ""
    service: str = ""

    @property
    def seconds(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e9

    @property
    def step(self) -> str | None:
        """The step name, for the span of a step attempt."""
        step = self.attributes.get("runner.step")
        return step if self.name.startswith("step ") and isinstance(step, str) else None

    @property
    def is_run(self) -> bool:
        return self.name.startswith("run ") and "runner.pipeline.digest" in self.attributes

    @property
    def outcome(self) -> str:
        """succeeded, cached, failed, retried, cancelled... (``runner.status``), else the status."""
        value = self.attributes.get("runner.status")
        return str(value) if value else self.status


@dataclass(frozen=True, slots=True)
class Row:
    span: SpanView
    depth: int
    critical: bool = False


@dataclass(frozen=True, slots=True)
class Waterfall:
    rows: list[Row]
    start_ns: int
    end_ns: int
    run: SpanView | None
    trace_ids: frozenset[str]
    critical: list[str]
    """Step names on the critical path, first to last."""

    @property
    def seconds(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e9


def run_dir(trace_dir: Path, run_id: str) -> Path:
    """Where the spans of ``run_id`` are written (:mod:`runner.telemetry.files`)."""
    return trace_dir / run_id


def read_requests(trace_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """Every request recorded for ``run_id``, file by file; unreadable lines are skipped
    (a process killed mid-write leaves at most its last line cut short)."""
    folder = run_dir(trace_dir, run_id)
    requests: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                request = json.loads(line)
            except ValueError:
                continue
            if isinstance(request, dict):
                requests.append(request)
    return requests


def parse_spans(requests: Iterable[Mapping[str, Any]]) -> list[SpanView]:
    """Every span in ``requests``, once (a span exported twice keeps its last copy)."""
    spans: dict[tuple[str, str], SpanView] = {}
    for request in requests:
        for resource_spans in request.get("resourceSpans", []):
            resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
            service = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.get("scopeSpans", []):
                for raw in scope_spans.get("spans", []):
                    span = _span(raw, service)
                    spans[(span.trace_id, span.span_id)] = span
    return sorted(spans.values(), key=lambda s: (s.start_ns, s.end_ns))


def _span(raw: Mapping[str, Any], service: str) -> SpanView:
    status = raw.get("status", {})
    return SpanView(
        trace_id=str(raw.get("traceId", "")),
        span_id=str(raw.get("spanId", "")),
        parent_id=str(raw.get("parentSpanId", "")),
        name=str(raw.get("name", "")),
        start_ns=int(raw.get("startTimeUnixNano", 0)),
        end_ns=int(raw.get("endTimeUnixNano", 0)),
        attributes=_attributes(raw.get("attributes", [])),
        status=_STATUS.get(int(status.get("code", 0)), "unset"),
        message=str(status.get("message", "")),
        service=service,
    )


def _attributes(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(item.get("key")): _value(item.get("value", {})) for item in items}


def _value(value: Mapping[str, Any]) -> Any:
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", [])]
    if "intValue" in value:
        return int(value["intValue"])
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    return None


def build_waterfall(spans: list[SpanView], *, controller_work: bool = False) -> Waterfall:
    """Rows in tree order (children by start time); the controller's work only if asked."""
    shown = [s for s in spans if controller_work or not s.name.startswith(CONTROLLER_WORK)]
    ids = {s.span_id for s in shown}
    children: dict[str, list[SpanView]] = {}
    roots: list[SpanView] = []
    for span in shown:
        if span.parent_id and span.parent_id in ids:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)  # the run span, or a span whose parent is not recorded
    critical_steps = critical_path(spans)
    on_path = set(critical_steps)
    rows: list[Row] = []
    stack = [(span, 0) for span in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        rows.append(Row(span, depth, critical=span.step in on_path))
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    run = next((s for s in spans if s.is_run), None)
    return Waterfall(
        rows=rows,
        start_ns=min((s.start_ns for s in shown), default=0),
        end_ns=max((s.end_ns for s in shown), default=0),
        run=run,
        trace_ids=frozenset(s.trace_id for s in spans),
        critical=critical_steps,
    )


def critical_path(spans: list[SpanView]) -> list[str]:
    """The steps on the critical path, first to last (empty without step spans)."""
    attempts: dict[str, list[SpanView]] = {}
    for span in spans:
        if span.step is not None:
            attempts.setdefault(span.step, []).append(span)
    if not attempts:
        return []
    first = {step: min(s.start_ns for s in found) for step, found in attempts.items()}
    last = {step: max(s.end_ns for s in found) for step, found in attempts.items()}
    task = {
        step: str(spans[0].attributes.get("runner.task", step)) for step, spans in attempts.items()
    }
    path = [max(last, key=lambda step: last[step])]
    while True:
        current = path[-1]
        upstream = _upstream(attempts[current][0])
        pool = [s for s in attempts if s not in path and (upstream is None or task[s] in upstream)]
        # Which instance of an upstream task (in a loop) fed this step: the last one done
        # before it was queued; a declared upstream counts even if clocks disagree.
        timely = [s for s in pool if last[s] <= first[current] + _SLACK_NS]
        candidates = timely or (pool if upstream is not None else [])
        if not candidates:
            return path[::-1]
        path.append(max(candidates, key=lambda step: last[step]))


_SLACK_NS = 50_000_000
"""Clocks of different processes (and the controller's reaction) blur the order by this much."""


def _upstream(span: SpanView) -> set[str] | None:
    value = span.attributes.get("runner.upstream")
    return {str(v) for v in value} if isinstance(value, list) else None
