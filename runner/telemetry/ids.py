"""Trace ids of a run, derived, never remembered: W3C ``traceparent`` arithmetic.

A span object cannot outlive the process that started it, and the controller
may be killed mid-run, so the long spans (the run, each step attempt) are
emitted when they *end*, by whichever controller applies that transition.
For a restart to change nothing, their ids are functions of what the run
state keeps:

- the trace id comes from the ``run.requested`` event's ``traceparent`` (the
  submitter's trace) or, without one, from the run id;
- the run span id from (trace id, run id); each step attempt's span id from
  (trace id, step, attempt) — known at launch, before the span exists, so
  the step's ``TRACEPARENT`` can name it as the parent of the step's spans.

:func:`adopt_run_request` rewrites a new run's request so that its
``traceparent`` names the run span (what the run state then keeps and every
controller event carries); the submitter's span, when there was one, becomes
the run span's parent and is kept in the ``runner`` entry of ``tracestate``
(``runner=p:<span id>``). A step attempt's ``tracestate`` carries instead the
time it was queued (``runner=q:<unix ms>``): the start of its span, known to
whichever controller ends it, since every event about the attempt repeats it.

Plain hashing, no OpenTelemetry import: the controller calls this on every
launch.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from runner.events.envelope import Event
from runner.events.kinds import EventKind

if TYPE_CHECKING:
    from runner.core.state import RunState

__all__ = [
    "TRACESTATE_KEY",
    "TraceContext",
    "adopt_run_request",
    "attempt_trace",
    "queued_at",
    "run_context",
    "step_context",
    "step_tracestate",
]

TRACESTATE_KEY = "runner"
"""Our ``tracestate`` entry: ``runner=p:<span id>`` names the run span's parent."""
_PARENT_PREFIX = "p:"
_QUEUED_PREFIX = "q:"
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_SAMPLED = "01"
_MAX_TRACESTATE = 512


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A span's place in a trace, as lowercase hex (the W3C wire form)."""

    trace_id: str
    span_id: str
    flags: str = _SAMPLED
    parent_id: str | None = None
    """The span's parent, where it is known (the run span's submitter)."""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    @property
    def sampled(self) -> bool:
        return bool(int(self.flags, 16) & 1)

    @classmethod
    def parse(cls, traceparent: str | None) -> TraceContext | None:
        """The context in a ``traceparent`` header; None if absent or invalid (W3C: ignore it)."""
        match = _TRACEPARENT.match(traceparent or "")
        if match is None or match[1] == "ff":
            return None
        _, trace_id, span_id, flags = match.groups()
        if set(trace_id) == {"0"} or set(span_id) == {"0"}:
            return None
        return cls(trace_id=trace_id, span_id=span_id, flags=flags)


def _derive(size: int, *parts: str) -> str:
    """``size`` bytes of sha256 over ``parts`` as hex; never the all-zero (invalid) id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[: size * 2]
    return digest if set(digest) != {"0"} else "0" * (size * 2 - 1) + "1"


def adopt_run_request(event: Event) -> Event:
    """The ``run.requested`` event as the run state should record it.

    Its ``traceparent`` is replaced by the run span's context and the
    submitter's span id (if any) is recorded in ``tracestate``. Deterministic:
    a redelivered request, or a second controller, computes the same ids.
    Events of any other kind are returned unchanged.
    """
    if event.kind is not EventKind.RUN_REQUESTED:
        return event
    incoming = TraceContext.parse(event.traceparent)
    if incoming is None:
        trace_id = _derive(16, "runner-trace", event.run_id)
        context = TraceContext(trace_id, _derive(8, trace_id, "run", event.run_id))
        return event.model_copy(update={"traceparent": context.traceparent, "tracestate": None})
    span_id = _derive(8, incoming.trace_id, "run", event.run_id)
    if incoming.span_id == span_id:
        return event  # already adopted: a copy of a recorded request
    context = TraceContext(incoming.trace_id, span_id, incoming.flags)
    entries = [f"{TRACESTATE_KEY}={_PARENT_PREFIX}{incoming.span_id}"]
    entries += _other_entries(event.tracestate)
    while len(",".join(entries)) > _MAX_TRACESTATE:  # W3C: drop entries from the right
        entries.pop()
    tracestate = ",".join(entries) or None
    return event.model_copy(update={"traceparent": context.traceparent, "tracestate": tracestate})


def run_context(run_id: str, traceparent: str | None, tracestate: str | None) -> TraceContext:
    """The run span's context from what the run state keeps.

    A state without a ``traceparent`` (a run requested before tracing
    existed) gets the ids :func:`adopt_run_request` would have given it.
    """
    context = TraceContext.parse(traceparent)
    if context is None:
        trace_id = _derive(16, "runner-trace", run_id)
        return TraceContext(trace_id, _derive(8, trace_id, "run", run_id))
    parent = _parent_from(tracestate)
    return TraceContext(context.trace_id, context.span_id, context.flags, parent)


def step_context(run: TraceContext, step: str, attempt: int) -> TraceContext:
    """The span of attempt ``attempt`` of ``step``: a child of the run span."""
    span_id = _derive(8, run.trace_id, "step", step, str(attempt))
    return TraceContext(run.trace_id, span_id, run.flags, run.span_id)


def attempt_trace(state: RunState, step: str, attempt: int, queued: datetime) -> tuple[str, str]:
    """``traceparent`` and ``tracestate`` of a step attempt queued at ``queued``."""
    run = run_context(state.run_id, state.traceparent, state.tracestate)
    context = step_context(run, step, attempt)
    return context.traceparent, step_tracestate(state.tracestate, queued)


def step_tracestate(run_tracestate: str | None, queued: datetime) -> str:
    """``tracestate`` of a step attempt: the run's, with our entry saying when it was queued.

    The step process and the executor copy it into every event they publish
    about the attempt, so whichever controller applies the attempt's end —
    after a restart, or another replica — knows where the attempt's span
    starts without the run state having to keep it.
    """
    millis = int(queued.timestamp() * 1000)
    return ",".join([f"{TRACESTATE_KEY}={_QUEUED_PREFIX}{millis}", *_other_entries(run_tracestate)])


def queued_at(tracestate: str | None) -> datetime | None:
    """When the attempt an event's ``tracestate`` belongs to was queued, if it says."""
    value = _runner_entry(tracestate)
    if value is None or not value.startswith(_QUEUED_PREFIX):
        return None
    millis = value[len(_QUEUED_PREFIX) :]
    if not millis.isdigit() or len(millis) > 15:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC)


def _entries(tracestate: str | None) -> list[str]:
    return [e.strip() for e in (tracestate or "").split(",") if "=" in e]


def _other_entries(tracestate: str | None) -> list[str]:
    return [e for e in _entries(tracestate) if e.split("=", 1)[0] != TRACESTATE_KEY]


def _runner_entry(tracestate: str | None) -> str | None:
    for entry in _entries(tracestate):
        key, _, value = entry.partition("=")
        if key == TRACESTATE_KEY:
            return value
    return None


def _parent_from(tracestate: str | None) -> str | None:
    value = _runner_entry(tracestate)
    if value is None or not value.startswith(_PARENT_PREFIX):
        return None
    parent = value[len(_PARENT_PREFIX) :]
    return parent if re.fullmatch(r"[0-9a-f]{16}", parent) and set(parent) != {"0"} else None
