"""A real :class:`Controller` on any bus with an executor that "runs" each step by
publishing its reports, for the tests that feed it garbage beside a real run.

Shared by the unit tests (MemoryBus) and the integration tests (NatsBus).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from runner.bus.base import Bus
from runner.controller.controller import Controller
from runner.core import RunState, RunStatus
from runner.events import EventKind, RunRequested, StepStarted, StepSucceeded, make_event
from runner.executors.base import AttemptInfo
from runner.records.pipelines import store_spec
from runner.step.request import StepRequest
from runner.store.base import ArtifactStore
from tests.unit.core.factories import spec, task
from tests.unit.events.garbage import Message

SPEC = spec(task("s0"), task("s1", "s0"), task("s2", "s1"))
"""Three steps in a chain: the real run beside the garbage."""
SEQ_HEADER = "X-Fuzz-Seq"
"""Numbers each garbage message, so a test can tell which ones were dead-lettered."""


class ReportingExecutor:
    """Implements :class:`runner.executors.base.Executor`: each launch reports the
    step started and succeeded at once, the way a step process reports itself."""

    name = "reporting"

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.launched: list[str] = []

    async def launch(self, request: StepRequest) -> str:
        launch_id = f"{request.run_id}/{request.step}/{request.attempt}"
        self.launched.append(launch_id)
        now = datetime.now(UTC)
        common = {
            "run_id": request.run_id,
            "pipeline": request.pipeline,
            "step": request.step,
            "attempt": request.attempt,
            "time": now,
            "component": "step",
        }
        await self.bus.publish(
            make_event(EventKind.STEP_STARTED, data=StepStarted(attempt=request.attempt), **common)
        )
        succeeded = StepSucceeded(attempt=request.attempt, parameters={"out": request.attempt})
        await self.bus.publish(make_event(EventKind.STEP_SUCCEEDED, data=succeeded, **common))
        return launch_id

    async def stop(self, attempt: AttemptInfo) -> None:
        """Nothing keeps running."""

    async def reconcile(self, attempts: Sequence[AttemptInfo]) -> None:
        """Every attempt reported at launch."""

    async def aclose(self) -> None:
        """Nothing to stop."""


async def request_run(bus: Bus, store: ArtifactStore, run_id: str) -> None:
    """Store :data:`SPEC` and publish its ``run.requested`` (no cache)."""
    spec_uri = await store_spec(store, SPEC)
    data = RunRequested(
        pipeline=SPEC.name, pipeline_digest=SPEC.digest(), spec_uri=spec_uri, no_cache=True
    )
    event = make_event(
        EventKind.RUN_REQUESTED,
        run_id=run_id,
        pipeline=SPEC.name,
        data=data,
        time=datetime.now(UTC),
        component="api",
    )
    await bus.publish(event)


async def run_state(controller: Controller, run_id: str) -> RunState | None:
    loaded = await controller.states.load(run_id)
    return loaded[0] if loaded else None


async def run_succeeded(controller: Controller, run_id: str) -> bool:
    state = await run_state(controller, run_id)
    return state is not None and state.status is RunStatus.SUCCEEDED


def tagged(message: Message, seq: int) -> Message:
    """``message`` with :data:`SEQ_HEADER` = ``seq`` (kept by its dead letter)."""
    return Message(message.body, {**message.headers, SEQ_HEADER: str(seq)}, message.subject)


def seqs(headers: Sequence[Mapping[str, str]]) -> list[int]:
    return sorted(int(h[SEQ_HEADER]) for h in headers if SEQ_HEADER in h)


@asynccontextmanager
async def running(controller: Controller) -> AsyncIterator[asyncio.Task[None]]:
    """``controller.run()`` in a task, ready; stopped (and its failure raised) at the end."""
    task = asyncio.create_task(controller.run(), name="controller-under-test")
    ready = asyncio.create_task(controller.ready.wait(), name="controller-ready")
    await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        await asyncio.gather(ready, return_exceptions=True)
        if task.done():
            task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError("the controller did not become ready")
    try:
        yield task
    finally:
        controller.stop()
        await asyncio.wait_for(task, timeout=30)  # raises what stopped it, if anything
