"""Owned background tasks: stopping them for sure, and never losing a cancellation.

Some libraries turn a ``CancelledError`` into an error of their own in places
(nats-py does, e.g. while a JetStream publish waits for a slot), and a
long-lived loop that logs errors and goes on then goes on after it was told
to stop: its owner waits for it forever. :func:`stop_task` cancels again
until the task has ended, and :func:`raise_if_cancelling` lets such a loop
notice, in its ``except``, that the error it caught came with a
cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["raise_if_cancelling", "stop_task", "stop_tasks"]

_RETRY_SECONDS = 0.5


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again if it swallowed
    the cancellation. Its result or error is dropped (its owner is shutting down)."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RETRY_SECONDS)
    await asyncio.gather(task, return_exceptions=True)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """:func:`stop_task` for each of ``tasks``, all at once."""
    await asyncio.gather(*(stop_task(task) for task in list(tasks)))


def raise_if_cancelling(cause: BaseException | None = None) -> None:
    """Raise ``CancelledError`` if the current task was asked to stop.

    Call it in the ``except`` of a loop that survives errors: the error may be a
    cancellation a library turned into its own exception."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from cause
