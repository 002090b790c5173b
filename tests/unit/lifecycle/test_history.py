"""The run index and run history: filters, staleness repair, building it, experiments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runner.bus.memory import MemoryBus
from runner.core.state import RunStatus
from runner.errors import ValidationError
from runner.lifecycle.history import RunFilter, experiments, list_runs, parse_since
from runner.records.index import RunIndex, RunSummary, referenced_runs
from runner.records.states import RunStates
from tests.unit.lifecycle.factories import T0, run_state


@pytest.fixture
async def bus() -> MemoryBus:
    memory = MemoryBus()
    await memory.ensure_streams()
    return memory


async def record(bus: MemoryBus, *states: object) -> None:
    index = RunIndex(bus)
    for state in states:
        await RunStates(bus).save(state, None)  # type: ignore[arg-type]
        await index.record(state)  # type: ignore[arg-type]
    await index.backfill([])  # marks the index built, as a controller start does


async def test_filters_on_experiment_pipeline_status_and_time(bus: MemoryBus) -> None:
    await record(
        bus,
        run_state("a", experiment="e1", minutes=0),
        run_state("b", experiment="e1", pipeline="toy", minutes=1, status=RunStatus.FAILED),
        run_state("c", experiment="e2", minutes=2),
    )
    ids = lambda runs: [r.run_id for r in runs]  # noqa: E731
    assert ids(await list_runs(bus)) == ["c", "b", "a"]  # newest first
    assert ids(await list_runs(bus, RunFilter(experiment="e1"))) == ["b", "a"]
    assert ids(await list_runs(bus, RunFilter(pipeline="iris"))) == ["c", "a"]
    assert ids(await list_runs(bus, RunFilter(status=RunStatus.FAILED))) == ["b"]
    since = T0 + timedelta(minutes=1)
    assert ids(await list_runs(bus, RunFilter(since=since))) == ["c", "b"]
    assert ids(await list_runs(bus, RunFilter(limit=1))) == ["c"]
    assert ids(await list_runs(bus, RunFilter(experiment="e1", pipeline="toy"))) == ["b"]


async def test_a_stale_active_entry_is_repaired_from_the_state(bus: MemoryBus) -> None:
    running = run_state("a", status=RunStatus.RUNNING)
    await record(bus, running)
    finished = run_state("a", status=RunStatus.SUCCEEDED)
    loaded = await RunStates(bus).load("a")
    assert loaded is not None
    await RunStates(bus).save(finished, loaded[1])  # the controller died before the index
    [summary] = await list_runs(bus)
    assert summary.status is RunStatus.SUCCEEDED
    [again] = await RunIndex(bus).scan()
    assert again.status is RunStatus.SUCCEEDED  # and the index was fixed


async def test_an_index_never_built_is_built_from_the_run_states(bus: MemoryBus) -> None:
    for state in (run_state("a"), run_state("b", minutes=1)):
        await RunStates(bus).save(state, None)
    assert [r.run_id for r in await list_runs(bus)] == ["b", "a"]
    assert await RunIndex(bus).built()


async def test_experiments_group_runs(bus: MemoryBus) -> None:
    await record(
        bus,
        run_state("a", experiment="e1"),
        run_state("b", experiment="e1", pipeline="toy", status=RunStatus.FAILED, minutes=5),
        run_state("c", experiment="e2", minutes=1),
    )
    found = [e.to_json() for e in await experiments(bus)]
    assert [e["experiment"] for e in found] == ["e1", "e2"]
    assert found[0]["runs"] == 2
    assert found[0]["pipelines"] == ["iris", "toy"]
    assert found[0]["statuses"] == {"failed": 1, "succeeded": 1}


def test_summary_records_which_runs_a_run_used() -> None:
    state = run_state("b", cached_from="a", params={"model": "file:///store/runs/z/t/m"})
    assert referenced_runs(state) == ["a", "z"]
    summary = RunSummary.from_state(state)
    assert (summary.steps, summary.done, summary.uses) == (2, 2, ["a", "z"])


def test_large_parameters_stay_out_of_the_index() -> None:
    summary = RunSummary.from_state(run_state("a", params={"blob": "x" * 5000}))
    assert summary.params == {}
    assert summary.params_truncated


def test_since_accepts_durations_and_dates() -> None:
    assert parse_since("2h", T0) == T0 - timedelta(hours=2)
    assert parse_since("7d", T0) == T0 - timedelta(days=7)
    assert parse_since("2026-11-01T12:00", T0) == T0
    with pytest.raises(ValidationError, match="neither a duration nor a date"):
        parse_since("yesterday", T0)


def test_filter_names_are_validated() -> None:
    with pytest.raises(ValidationError, match="experiment"):
        RunFilter(experiment="Bad Name")
