"""The executor interface: start, stop and watch step attempts.

An executor turns a :class:`~runner.step.request.StepRequest` into a running
process or Job and makes sure every attempt ends in a terminal event: the
step reports ``step.succeeded``/``step.failed`` itself; when it cannot (it
was killed, timed out, never started) the executor publishes ``step.failed``
with the reason. Launches are idempotent per (run, step, attempt).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from runner.events.envelope import Event
from runner.step.request import StepRequest

Publish = Callable[[Event], Awaitable[None]]
"""How an executor reports facts it observed (the controller passes bus.publish)."""


class Executor(Protocol):
    """Runs step attempts somewhere."""

    name: str

    async def launch(self, request: StepRequest) -> str:
        """Start the attempt (or adopt the one already running) and return its
        launch id. Must return quickly: waiting is the executor's own business."""
        ...

    async def stop(self, run_id: str, step: str, attempt: int, launch_id: str | None) -> None:
        """Stop the attempt; the executor then reports it as failed (Cancelled)."""
        ...

    async def aclose(self) -> None:
        """Stop watching; running attempts keep running unless documented otherwise."""
        ...
