"""Suite-wide rules: warnings are errors (pyproject), and no test may leak
asyncio tasks — every background task must have an owner that stops it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.nats", "tests.fixtures.controllers"]


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    # Done-callbacks and cancellations finish within a couple of loop turns.
    for _ in range(3):
        await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [
        t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()
    ]
    if leaked:
        for task in leaked:
            task.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leaked))
        pytest.fail(f"test leaked {len(leaked)} asyncio task(s): {names}")


@pytest.fixture(autouse=True)
def _restore_runner_logger() -> Iterator[None]:
    """CLI commands invoked in-process configure the ``runner`` logger for a
    terminal (own handler, no propagation); undo that so caplog keeps working."""
    logger = logging.getLogger("runner")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
