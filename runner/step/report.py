"""Publishing a step attempt's own events, and leaving the ``reported`` marker.

Event ids are deterministic (``<run>/<step>/<attempt>/step.succeeded``), so a
retried publish or an executor that reports the same failure is dropped by
JetStream's dedup window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.config import NatsSettings
from runner.events.envelope import make_event
from runner.events.kinds import EventKind
from runner.events.models import ArtifactRef, ErrorInfo, StepFailed, StepStarted, StepSucceeded
from runner.events.models import _Data as EventData
from runner.step.request import StepRequest

REPORTED_MARKER = "reported"


class Reporter:
    """Publishes step.started / step.succeeded / step.failed for one attempt."""

    def __init__(self, request: StepRequest, bus: Any) -> None:
        self.request = request
        self.bus = bus

    @classmethod
    async def connect(cls, request: StepRequest) -> Reporter:
        from runner.bus import connect

        bus = await connect(NatsSettings(), url=request.nats_url)
        return cls(request, bus)

    async def started(self, *, host: str, pid: int) -> None:
        data = StepStarted(attempt=self.request.attempt, host=host, pid=pid)
        await self._publish(EventKind.STEP_STARTED, data)

    async def succeeded(
        self, outputs: dict[str, ArtifactRef], values: dict[str, Any], duration: float
    ) -> None:
        data = StepSucceeded(
            attempt=self.request.attempt,
            outputs=outputs,
            parameters=values,
            cache_key=self.request.cache_key,
            duration_seconds=duration,
        )
        await self._publish(EventKind.STEP_SUCCEEDED, data)
        self._mark("succeeded")

    async def failed(self, error: ErrorInfo, duration: float) -> None:
        error = error.model_copy(update={"step": self.request.step})
        data = StepFailed(attempt=self.request.attempt, error=error, duration_seconds=duration)
        await self._publish(EventKind.STEP_FAILED, data)
        self._mark("failed")

    async def close(self) -> None:
        await self.bus.close()

    async def _publish(self, kind: EventKind, data: EventData) -> None:
        req = self.request
        event = make_event(
            kind,
            run_id=req.run_id,
            pipeline=req.pipeline,
            step=req.step,
            attempt=req.attempt,
            component="step",
            time=datetime.now(UTC),
            data=data,
            traceparent=req.traceparent,
            tracestate=req.tracestate,
        )
        await self.bus.publish(event)

    def _mark(self, outcome: str) -> None:
        if self.request.state_dir:
            (Path(self.request.state_dir) / REPORTED_MARKER).write_text(outcome)
