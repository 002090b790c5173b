"""What the controller asks of tracing, and the do-nothing tracer.

The controller and its effects call a :class:`RunTracer` at a few points:
around applying events (:meth:`RunTracer.batch`: which spans ended, emitted
once the state is saved), around the work for one run
(:meth:`RunTracer.handling`) and around each cache lookup and launch
(:meth:`RunTracer.work`). This base class does nothing and imports nothing
from OpenTelemetry, so a controller with tracing off pays nothing;
:func:`start_run_tracer` returns the real one
(:class:`runner.telemetry.runs.OtelRunTracer`) when tracing is on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from runner.core import Plan, RunState
from runner.events.envelope import Event
from runner.telemetry.config import TRACE_DIR_ENV, Export, load_telemetry_settings

if TYPE_CHECKING:
    from runner.telemetry.records import Watch

__all__ = ["RunTracer", "SpanBatch", "start_run_tracer"]

TRACE_DIR_NAME = "traces"


class SpanBatch:
    """The spans ended by one decide-and-save attempt (none: tracing is off)."""

    def before(self, state: RunState | None, event: Event) -> Watch | None:
        """Call before ``decide(state, event, ...)``."""
        return None

    def after(self, seen: Watch | None, state: RunState | None, plan: Plan) -> None:
        """Call after ``decide`` with the state it returned."""

    def emit(self) -> None:
        """Call once the state is saved: the transitions happened, their spans end."""


class RunTracer:
    """Tracing for the controller; this one traces nothing."""

    enabled = False

    def batch(self) -> SpanBatch:
        return SpanBatch()

    @contextmanager
    def handling(self, state: RunState, events: Sequence[Event], started_ns: int) -> Iterator[None]:
        """The work for one run's batch of events (began at ``started_ns``)."""
        yield

    @contextmanager
    def work(self, name: str, state: RunState, step: str) -> Iterator[None]:
        """A piece of controller work for ``step`` (a cache lookup, a launch)."""
        yield

    def step_env(self) -> dict[str, str]:
        """Environment a step process needs to trace the way the controller does."""
        return {}

    def shutdown(self) -> None:
        """Flush (bounded) and stop."""

    @staticmethod
    def clock() -> int:
        return time.time_ns()


def start_run_tracer(home: Path, *, executor: str) -> RunTracer:
    """The controller's tracer as the environment configures it.

    With no OTLP endpoint, spans go to ``<home>/traces`` (and the steps are
    told so). Raises ConfigError for a bad ``OTEL_*`` value, so that a
    misconfigured controller stops at once instead of tracing nowhere.
    """
    settings = load_telemetry_settings(trace_dir=home.resolve() / TRACE_DIR_NAME)
    if settings.export() is Export.NONE:
        return RunTracer()
    from runner.telemetry.runs import OtelRunTracer

    tracer = OtelRunTracer(settings, executor=executor)
    if settings.export() is Export.FILE and executor == "local":
        # Local steps write beside the controller; a pod could not reach this disk.
        tracer.env[TRACE_DIR_ENV] = str(settings.trace_dir)
    return tracer
