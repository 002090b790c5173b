"""An executor that runs nothing: every launch succeeds at once.

For W4 through the real controller: the controller, NATS JetStream, the KV
run state and the event codec do all their usual work, but no process is
started, so what is measured is the orchestration itself. ``launch``
queues the request and returns; one owned worker task then publishes the
step's ``step.started`` and ``step.succeeded`` on the bus (output
``x + 1``), in launch order, the way a step process would report itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime

from bench.decide_driver import reported_events
from runner.executors.base import AttemptInfo, Publish
from runner.step.request import StepRequest


class NoopExecutor:
    """Implements :class:`runner.executors.base.Executor`; reports success immediately."""

    name = "noop"

    def __init__(self, publish: Publish) -> None:
        self.publish = publish
        self.launched = 0
        self._queue: asyncio.Queue[StepRequest] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._seen: set[str] = set()

    async def launch(self, request: StepRequest) -> str:
        launch_id = f"noop/{request.run_id}/{request.step}/{request.attempt}"
        if launch_id in self._seen:  # idempotent, as every executor must be
            return launch_id
        self._seen.add(launch_id)
        self.launched += 1
        if self._worker is None:
            self._worker = asyncio.create_task(self._report(), name="noop-executor")
        self._queue.put_nowait(request)
        return launch_id

    async def stop(self, attempt: AttemptInfo) -> None:
        """Nothing runs, so nothing to stop."""

    async def reconcile(self, attempts: Sequence[AttemptInfo]) -> None:
        """Every launch is reported at once: nothing can be lost."""

    async def aclose(self) -> None:
        """Stop reporting; queued requests are dropped (the bench waits for its run first)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _report(self) -> None:
        while True:
            req = await self._queue.get()
            now = datetime.now(UTC)
            for event in reported_events(
                req.run_id, req.pipeline, req.step, req.attempt, req.parameters, now
            ):
                await self.publish(event)
