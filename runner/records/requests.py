"""Requesting a run and following it: :func:`request_run` and :class:`RunHandle`.

:func:`request_run` publishes ``run.requested`` for a spec and code package
already in the store (what :func:`runner.api.submit` does after publishing
the pipeline, and all a registered version, a rerun, a schedule or a trigger
needs). The returned :class:`RunHandle` waits for the run, reads its state
and streams its events.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from runner.bus.base import Bus
from runner.core import RunState
from runner.errors import NotFoundError
from runner.events.envelope import Event, make_event
from runner.events.kinds import TERMINAL_RUN_KINDS, EventKind, subject_filter, validate_name
from runner.events.models import CodeRef, RunCancelRequested, RunRequested
from runner.records.states import RunStates
from runner.telemetry.propagation import caller_trace

__all__ = ["RunHandle", "new_run_id", "request_run"]


def new_run_id(pipeline: str, now: datetime | None = None) -> str:
    """A readable, unique, subject-safe run id: ``<pipeline>-<utc time>-<random>``."""
    now = now or datetime.now(UTC)
    stem = pipeline[:30].rstrip("-")
    return validate_name(f"{stem}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}", "run id")


async def request_run(
    *,
    bus: Bus,
    pipeline: str,
    digest: str,
    spec_uri: str,
    code: CodeRef | None,
    parameters: Mapping[str, Any] | None = None,
    no_cache: bool = False,
    experiment: str = "default",
    version: str | None = None,
    run_id: str | None = None,
    requested_by: str = "api",
    labels: Mapping[str, str] | None = None,
    time: datetime | None = None,
) -> RunHandle:
    """Publish ``run.requested`` for a spec and code package already in the store.

    No compiling or packaging: this is how a registered pipeline version, a
    rerun or a schedule starts a run. A given ``run_id`` makes the request
    deterministic (its event id is ``<run id>/run.requested``), so a repeat is
    dropped by JetStream and ignored by the controller.
    """
    run_id = validate_name(run_id, "run id") if run_id else new_run_id(pipeline)
    traceparent, tracestate = caller_trace()  # the run's trace joins the caller's, if any
    event = make_event(
        EventKind.RUN_REQUESTED,
        run_id=run_id,
        pipeline=pipeline,
        component="api",
        time=time or datetime.now(UTC),
        data=RunRequested(
            pipeline=pipeline,
            pipeline_digest=digest,
            spec_uri=spec_uri,
            code=code,
            parameters=dict(parameters or {}),
            no_cache=no_cache,
            experiment=validate_name(experiment, "experiment"),
            version=version,
            requested_by=requested_by,
            labels=dict(labels or {}),
        ),
        traceparent=traceparent,
        tracestate=tracestate,
    )
    await bus.publish(event)
    return RunHandle(bus=bus, run_id=run_id, pipeline=pipeline)


class RunHandle:
    """A submitted run: wait for it, read its state, follow its events, cancel it."""

    def __init__(self, *, bus: Bus, run_id: str, pipeline: str) -> None:
        self.bus = bus
        self.run_id = run_id
        self.pipeline = pipeline
        self._states = RunStates(bus)

    async def state(self) -> RunState | None:
        """The controller's current view of the run (None until it saw the request)."""
        loaded = await self._states.load(self.run_id)
        return loaded[0] if loaded else None

    def events(self, *, follow: bool = True) -> AsyncIterator[Event]:
        """Every event of this run from the start, in order."""
        return self.bus.subscribe(subject_filter(self.pipeline, self.run_id), deliver="all")

    async def wait(self, timeout: float | None = None) -> RunState:
        """Wait for the run to end; returns its final state."""
        async with asyncio.timeout(timeout):
            stream = self.bus.subscribe(subject_filter(self.pipeline, self.run_id, "run"))
            try:
                async for event in stream:
                    if event.kind in TERMINAL_RUN_KINDS:
                        break
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
            # The terminal event is published after the state is written.
            for _ in range(50):
                state = await self.state()
                if state is not None and state.status.terminal:
                    return state
                await asyncio.sleep(0.05)
        raise NotFoundError(f"run {self.run_id} ended but its state is not readable")

    async def cancel(self, reason: str = "cancelled by user", requested_by: str = "api") -> None:
        event = make_event(
            EventKind.RUN_CANCEL_REQUESTED,
            run_id=self.run_id,
            pipeline=self.pipeline,
            component="api",
            time=datetime.now(UTC),
            data=RunCancelRequested(reason=reason, requested_by=requested_by),
        )
        await self.bus.publish(event)
