"""Publishing a step attempt's own events, and leaving the ``reported`` marker.

Event ids are deterministic (``<run>/<step>/<attempt>/step.succeeded``), so a
retried publish or an executor that reports the same failure is dropped by
JetStream's dedup window. That makes retrying safe: connecting and each
publish are retried with backoff for up to :data:`REPORT_DEADLINE_SECONDS`
while NATS is away (``runner up`` restarting its nats-server, a cluster
failover), so a step that finished during an outage still gets its result
through.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from runner.config import NatsSettings
from runner.errors import BusError, RunnerError, TransientError
from runner.events.auth import TOKEN_ENV, sign
from runner.events.envelope import make_event
from runner.events.kinds import EventKind
from runner.events.models import ArtifactRef, ErrorInfo, StepFailed, StepStarted, StepSucceeded
from runner.events.models import _Data as EventData
from runner.step.request import StepRequest

REPORTED_MARKER = "reported"
REPORT_DEADLINE_SECONDS = 120.0
"""How long connecting, and each publish, is retried while NATS is unavailable."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0

log = logging.getLogger(__name__)
T = TypeVar("T")


class Reporter:
    """Publishes step.started / step.succeeded / step.failed for one attempt."""

    def __init__(
        self, request: StepRequest, bus: Any, *, deadline: float = REPORT_DEADLINE_SECONDS
    ) -> None:
        self.request = request
        self.bus = bus
        self.deadline = deadline
        # The attempt's report token: taken out of the environment so that the
        # processes the component starts do not inherit it.
        self._token = os.environ.pop(TOKEN_ENV, None)

    @classmethod
    async def connect(
        cls, request: StepRequest, *, deadline: float = REPORT_DEADLINE_SECONDS
    ) -> Reporter:
        settings = NatsSettings()
        # Only the client: not the embedded server's code, and not aiohttp (WebSocket only).
        from runner.bus.nats_import import import_nats_client

        import_nats_client(request.nats_url or settings.url)
        from runner.bus.client import connect

        bus = await retrying(
            f"connect to NATS at {request.nats_url}",
            lambda: connect(settings, url=request.nats_url),
            deadline,
        )
        return cls(request, bus, deadline=deadline)

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
        if self._token:
            event = sign(event, self._token)
        await retrying(f"publish {kind.value}", lambda: self.bus.publish(event), self.deadline)

    def _mark(self, outcome: str) -> None:
        if self.request.state_dir:
            (Path(self.request.state_dir) / REPORTED_MARKER).write_text(outcome)


async def retrying(what: str, call: Callable[[], Awaitable[T]], deadline: float) -> T:
    """``call()``, tried again with backoff while NATS is unavailable, for up to
    ``deadline`` seconds; one WARNING per outage. Other errors are raised at once."""
    give_up = time.monotonic() + deadline
    delay = FIRST_BACKOFF_SECONDS
    failing = False
    while True:
        try:
            result = await call()
        except RunnerError as exc:
            if not _transient(exc) or time.monotonic() + delay > give_up:
                raise
            if not failing:
                failing = True
                log.warning("could not %s (%s); retrying for up to %gs", what, exc, deadline)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            continue
        if failing:
            log.info("%s: done after retrying", what)
        return result


def _transient(exc: RunnerError) -> bool:
    if isinstance(exc, TransientError):
        return True
    if not isinstance(exc, BusError):
        return False
    import nats.js.errors

    # Just after a nats-server restart the client is back before JetStream has
    # loaded its streams: "no stream for this subject" passes within seconds.
    return isinstance(exc.__cause__, nats.js.errors.NoStreamResponseError)
