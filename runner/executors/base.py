"""The executor interface: start, stop and watch step attempts.

An executor turns a :class:`~runner.step.request.StepRequest` into a running
process or Job and makes sure every attempt ends in a terminal event: the
step reports ``step.succeeded``/``step.failed`` itself; when it cannot (it
was killed, timed out, never started) the executor publishes ``step.failed``
with the reason. Launches are idempotent per (run, step, attempt).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import StepFailed, StepPending
from runner.step.request import StepRequest

Publish = Callable[[Event], Awaitable[None]]
"""How an executor reports facts it observed (the controller passes bus.publish)."""


@dataclass(frozen=True)
class AttemptInfo:
    """An attempt the controller's state says is launched or running, not yet reported."""

    run_id: str
    pipeline: str
    step: str
    attempt: int
    launch_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    @classmethod
    def of(cls, request: StepRequest, launch_id: str | None = None) -> AttemptInfo:
        """The attempt ``request`` starts."""
        return cls(
            run_id=request.run_id, pipeline=request.pipeline, step=request.step,
            attempt=request.attempt, launch_id=launch_id, traceparent=request.traceparent,
            tracestate=request.tracestate,
        )  # fmt: skip

    @property
    def key(self) -> str:
        return f"{self.run_id}/{self.step}/{self.attempt}"

    def event(
        self, kind: EventKind, data: StepFailed | StepPending, *, component: str,
        time: datetime, id: str | None = None,
    ) -> Event:  # fmt: skip
        """An event an executor publishes about this attempt (in its trace)."""
        return make_event(
            kind, run_id=self.run_id, pipeline=self.pipeline, step=self.step,
            attempt=self.attempt, id=id, component=component, time=time, data=data,
            traceparent=self.traceparent, tracestate=self.tracestate,
        )  # fmt: skip


LOST_REASON = "Lost"
"""``ErrorInfo.reason`` of an attempt that ended (or vanished) while nobody watched
it and never reported: the controller relaunches it (it was not the step's fault)."""


class Executor(Protocol):
    """Runs step attempts somewhere."""

    name: str

    async def launch(self, request: StepRequest) -> str:
        """Start the attempt (or adopt the one already running) and return its
        launch id. Must return quickly: waiting is the executor's own business."""
        ...

    async def stop(self, attempt: AttemptInfo) -> None:
        """Stop the attempt; the executor then reports it as failed (Cancelled),
        at once when it no longer runs. ``attempt.launch_id`` is None when the
        launch was not confirmed: the executor finds it by run, step and attempt."""
        ...

    async def reconcile(self, attempts: Sequence[AttemptInfo]) -> None:
        """Make sure each of ``attempts`` is watched, or reported if it is gone.

        The controller calls this at start and periodically with every attempt
        its run states say is launched or running. An attempt that is alive is
        adopted (watched until it ends); one that ended without reporting — or
        no longer exists — is published as ``step.failed`` with reason
        :data:`LOST_REASON` (and what is known: exit code, signal, log tail).
        Attempts this executor already watches are left alone."""
        ...

    async def aclose(self) -> None:
        """Stop watching; running attempts keep running unless documented otherwise."""
        ...
