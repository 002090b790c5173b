"""A pipeline and a run driven through the real ``decide``, collecting ended spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runner import component, pipeline
from runner.core import Plan, RunState, decide
from runner.events import (
    ErrorInfo,
    Event,
    EventKind,
    RunRequested,
    StepFailed,
    StepLaunched,
    StepStarted,
    StepSucceeded,
    make_event,
)
from runner.events.models import _Data
from runner.telemetry.ids import adopt_run_request, attempt_trace, run_context
from runner.telemetry.records import SpanRecord, ended, watch

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@component
def prep() -> int:
    return 1


@component(image="python:3.11-slim")
def train(x: int) -> int:
    return x


@pipeline(name="demo")
def demo() -> None:
    p = prep()
    t = train(x=p.output).set_retry(max_attempts=2).set_caching(False)
    t.set_resources(gpu=1, accelerator="nvidia-h100")


PLAN = Plan.from_spec(demo.compile())


class Run:
    """Feeds events to ``decide`` as the controller does, collecting ended spans."""

    def __init__(self) -> None:
        self.state: RunState | None = None
        self.now = T0
        self.records: list[SpanRecord] = []
        self.queued: dict[tuple[str, int], datetime] = {}

    def apply(self, event: Event) -> list[SpanRecord]:
        seen = watch(self.state, event)
        self.state = decide(self.state, event, PLAN, self.now).state
        assert self.state is not None
        found = ended(seen, self.state, PLAN, "local")
        self.records += found
        return found

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)

    def request(self, traceparent: str | None = None) -> None:
        """``run.requested``, from a submitter in the trace ``traceparent`` if given."""
        data = RunRequested(pipeline="demo", pipeline_digest=PLAN.digest, spec_uri="file:///s")
        event = make_event(
            EventKind.RUN_REQUESTED,
            run_id="r1",
            pipeline="demo",
            data=data,
            time=self.now,
            traceparent=traceparent,
        )
        self.apply(adopt_run_request(event))

    def step_event(self, kind: EventKind, step: str, attempt: int, data: _Data) -> Event:
        """An event as the step process (or the effects) publishes it: with the attempt's trace."""
        assert self.state is not None
        queued = self.queued.setdefault((step, attempt), self.now)
        traceparent, tracestate = attempt_trace(self.state, step, attempt, queued)
        return make_event(
            kind,
            run_id="r1",
            pipeline="demo",
            data=data,
            time=self.now,
            step=step,
            attempt=attempt,
            traceparent=traceparent,
            tracestate=tracestate,
        )

    def run_attempt(self, step: str, attempt: int = 1, fail: bool = False) -> list[SpanRecord]:
        launched = StepLaunched(attempt=attempt, executor="local", launch_id=f"{step}/{attempt}")
        self.apply(self.step_event(EventKind.STEP_LAUNCHED, step, attempt, launched))
        self.tick()
        self.apply(
            self.step_event(EventKind.STEP_STARTED, step, attempt, StepStarted(attempt=attempt))
        )
        self.tick(2)
        if fail:
            error = ErrorInfo(reason="Exception", type="ValueError", message="bad", traceback="tb")
            data: _Data = StepFailed(attempt=attempt, error=error)
            return self.apply(self.step_event(EventKind.STEP_FAILED, step, attempt, data))
        data = StepSucceeded(attempt=attempt, parameters={"output": 1})
        return self.apply(self.step_event(EventKind.STEP_SUCCEEDED, step, attempt, data))

    @property
    def run(self) -> Any:
        assert self.state is not None
        return run_context("r1", self.state.traceparent, self.state.tracestate)
