"""Reading run states for the CLI: one run (or a clear "not found"), all runs, a final state."""

from __future__ import annotations

import asyncio
import time

from runner.bus.base import Bus
from runner.core.state import RunState
from runner.errors import NotFoundError
from runner.events.kinds import validate_name
from runner.records.states import RunStates

__all__ = ["all_runs", "final_state", "load_run"]

FINAL_STATE_TIMEOUT = 10.0
"""The terminal event is published right after the state is written; allow for lag."""


async def load_run(bus: Bus, run_id: str) -> RunState:
    """The state of ``run_id``, or NotFoundError saying how to find the right id."""
    validate_name(run_id, "run id")
    loaded = await RunStates(bus).load(run_id)
    if loaded is None:
        raise NotFoundError(
            f"run {run_id!r} not found on NATS {bus.url}: list runs with `runner runs list` "
            "(with the same --home / --nats as the run; a run just submitted appears once "
            "a controller has picked it up)"
        )
    return loaded[0]


async def all_runs(bus: Bus) -> list[RunState]:
    """Every run the controller knows, newest first."""
    states = RunStates(bus)
    found = []
    for run_id in await states.run_ids():
        loaded = await states.load(run_id)
        if loaded is not None:  # deleted since listing
            found.append(loaded[0])
    found.sort(key=lambda s: s.created_at, reverse=True)
    return found


async def final_state(bus: Bus, run_id: str, timeout: float = FINAL_STATE_TIMEOUT) -> RunState:
    """The run's state once it is terminal (its terminal event has been seen)."""
    deadline = time.monotonic() + timeout
    states = RunStates(bus)
    while True:
        loaded = await states.load(run_id)
        if loaded is not None and loaded[0].status.terminal:
            return loaded[0]
        if time.monotonic() > deadline:
            raise NotFoundError(
                f"run {run_id} ended but its final state was not readable within {timeout:g}s; "
                f"try `runner status {run_id}`"
            )
        await asyncio.sleep(0.05)
