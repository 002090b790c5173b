"""The lifecycle end to end on a real nats-server, controller and local steps, with the
file store and an S3 store: versions, diff, runs of both versions, compare, plot,
lineage, and a schedule fired with a fake clock across a controller restart."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.api import RunHandle, request_run
from runner.config import Settings, StoreSettings
from runner.core.state import RunStatus
from runner.dsl.loader import LoadedPipeline, load_pipeline
from runner.lifecycle.compare import compare_runs, plot_metrics
from runner.lifecycle.diff import diff_specs
from runner.lifecycle.history import RunFilter, list_runs
from runner.lifecycle.lineage import ArtifactNode, LineageReader
from runner.lifecycle.registry import PipelineRegistry, upload_pipeline
from runner.lifecycle.scheduler import Scheduler
from runner.lifecycle.schedules import Schedule, Schedules
from runner.records import RunRecord
from runner.records.pipelines import PipelineRef
from runner.stack import Stack

pytestmark = pytest.mark.integration

SOURCE = """
import json

from runner import Dataset, Input, Metrics, Model, Output, component, pipeline


@component
def ingest(source: str, rows: int, data: Output[Dataset]) -> int:
    with open(data.path, "w") as fh:
        json.dump({"source": source, "values": list(range(1, rows + 1))}, fh)
    return rows


@component
def train(data: Input[Dataset], lr: float, model: Output[Model], metrics: Output[Metrics]) -> str:
    with open(data.path) as fh:
        values = json.load(fh)["values"]
    with open(model.path, "w") as fh:
        fh.write("VERSION")
    metrics.log_metric("score", sum(values) / len(values) * lr)
    return "VERSION"


@pipeline(name="lc")
def lc(source: str = "s3://raw/iris.csv", rows: int = 4, lr: float = 0.1):
    data = ingest(source=source, rows=rows)
    train(data=data.outputs["data"], lr=lr)
"""

_modules = itertools.count()
TIMEOUT = 90.0


@pytest.fixture
def edit(tmp_path: Path) -> Iterator[Callable[[str], LoadedPipeline]]:
    """Write the pipeline file with ``train`` returning ``version``: one file, edited."""
    name = f"lcpipe_{next(_modules)}"
    root = tmp_path / "src"
    root.mkdir()

    def write(version: str) -> LoadedPipeline:
        sys.modules.pop(name, None)
        (root / f"{name}.py").write_text(SOURCE.replace("VERSION", version))
        return load_pipeline(str(root / f"{name}.py"))

    yield write
    sys.modules.pop(name, None)


@pytest.fixture(params=["file", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "file":
        return Settings(home=tmp_path / "home")
    s3: StoreSettings = request.getfixturevalue("s3_settings")
    storage = s3.model_copy(update={"uri": request.getfixturevalue("s3_store_uri")})
    return Settings(home=tmp_path / "home", storage=storage)


async def run_version(stack: Stack, record: PipelineRef, **params: Any) -> RunRecord:
    handle: RunHandle = await request_run(
        bus=stack.bus,
        pipeline=record.name,
        digest=record.digest,
        spec_uri=record.spec_uri,
        code=record.code,
        parameters=params,
        experiment="tuning",
        version=record.version,
        requested_by="test",
    )
    state = await handle.wait(timeout=TIMEOUT)
    assert state.status is RunStatus.SUCCEEDED, state.error
    return RunRecord.from_state(state)


def chain(node: ArtifactNode) -> list[str]:
    """run/step of each producer from ``node`` back to the source (first input each)."""
    found = []
    while node.producer is not None:
        found.append(f"{node.producer.run}/{node.producer.step}")
        inputs = list(node.producer.artifacts.values())
        if not inputs:
            break
        node = inputs[0][0]
    return found


async def test_versions_runs_compare_and_lineage(
    settings: Settings, edit: Callable[[str], LoadedPipeline], tmp_path: Path
) -> None:
    async with Stack(settings) as stack:
        v1, _ = await upload_pipeline(stack.store, edit("v1"), version="v1")
        v2, _ = await upload_pipeline(stack.store, edit("v2"), version="v2")  # disk is now v2
        registry = PipelineRegistry(stack.store)
        diff = diff_specs(await registry.spec(v1), await registry.spec(v2))
        assert list(diff.components.changed) == ["train"]
        assert not diff.components.added
        assert not diff.components.removed
        assert not diff.tasks
        assert not diff.parameters

        first = await run_version(stack, await registry.lookup("lc@v1"), lr=0.5)
        second = await run_version(stack, await registry.lookup("lc"), lr=0.25)  # latest: v2
        # v1's own code ran although the file on disk says v2.
        assert first.steps["train"].output_values == {"output": "v1"}
        assert second.steps["train"].output_values == {"output": "v2"}
        assert second.steps["ingest"].cached  # same component and inputs as in v1's run

        listed = await list_runs(stack.bus, RunFilter(experiment="tuning", pipeline="lc"))
        assert [(r.run_id, r.version) for r in listed] == [
            (second.run_id, "v2"),
            (first.run_id, "v1"),
        ]

        comparison = compare_runs([first, second]).to_json()
        assert comparison["params"]["lr"] == {first.run_id: 0.5, second.run_id: 0.25}
        assert comparison["metrics"]["train.score"] == {first.run_id: 1.25, second.run_id: 0.625}
        assert comparison["different"] == {"params": ["lr"], "metrics": ["train.score"]}
        png = tmp_path / "compare.png"
        assert plot_metrics(compare_runs([first, second]), png) == ["train.score"]
        assert png.read_bytes()[:4] == b"\x89PNG"

        reader = LineageReader(stack.bus, stack.store)
        model = await reader.upstream(await reader.locate(f"{second.run_id}/train/model"))
        assert model.uri == second.steps["train"].outputs["model"].uri
        # The model came from the second run's train, fed by the data that the first
        # run's ingest produced (the second reused it from the cache) from the source.
        assert chain(model) == [f"{second.run_id}/train", f"{first.run_id}/ingest"]
        producer = model.producer
        assert producer is not None
        assert producer.parameters == {"lr": 0.25}
        assert producer.component_digest == (await registry.spec(v2)).components["train"].digest
        assert producer.cache_key == second.steps["train"].cache_key
        source = producer.artifacts["data"][0].producer
        assert source is not None
        assert source.parameters == {"source": "s3://raw/iris.csv", "rows": 4}

        data = await reader.locate(first.steps["ingest"].outputs["data"].uri)
        await LineageReader(stack.bus, stack.store).downstream(data)
        readers = sorted((c.run, c.step, c.input) for c in data.consumers)
        assert readers == sorted(
            [(first.run_id, "train", "data"), (second.run_id, "train", "data")]
        )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_schedule_fires_on_time_once_across_a_controller_restart(
    tmp_path: Path, edit: Callable[[str], LoadedPipeline]
) -> None:
    settings = Settings(home=tmp_path / "home")
    start = datetime(2026, 11, 2, 9, 58, tzinfo=UTC)
    clock = Clock(start)
    async with Stack(settings) as stack:
        record, _ = await upload_pipeline(stack.store, edit("v1"), version="v1")
        await Schedules(stack.bus).add(
            Schedule(
                name="hourly",
                pipeline=record.name,
                version=record.version,
                digest=record.digest,
                spec_uri=record.spec_uri,
                code=record.code,
                cron="0 * * * *",
                parameters={"rows": 2},
                experiment="nightly",
                created_at=start,
            )
        )
        scheduler = Scheduler(stack.bus, clock=clock)
        assert await scheduler.run_once() == []
        clock.now = start + timedelta(minutes=1, seconds=59)  # 09:59:59
        assert await scheduler.run_once() == []
        clock.now = start + timedelta(minutes=2)  # 10:00:00
        assert await scheduler.run_once() == ["hourly-20261102-1000"]
        state = await RunHandle(bus=stack.bus, run_id="hourly-20261102-1000", pipeline="lc").wait(
            timeout=TIMEOUT
        )
        assert state.status is RunStatus.SUCCEEDED
        assert state.requested_by == "schedule/hourly"
        # A scheduler that published but died before recording the tick:
        crashed = Scheduler(stack.bus, clock=Clock(start + timedelta(hours=1, minutes=5)))

        async def die(*args: object) -> bool:
            raise RuntimeError("killed")

        crashed._save = die  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            await crashed.run_once()

    # The controller restarts (a new stack on the same home: same NATS data, same store).
    async with Stack(settings) as stack:
        clock.now = start + timedelta(hours=1, minutes=5)  # 11:03: the 11:00 tick is due
        restarted = Scheduler(stack.bus, clock=clock)
        assert await restarted.run_once() == ["hourly-20261102-1100"]
        assert await restarted.run_once() == []
        await RunHandle(bus=stack.bus, run_id="hourly-20261102-1100", pipeline="lc").wait(
            timeout=TIMEOUT
        )
        runs = await list_runs(stack.bus, RunFilter(experiment="nightly"))
        assert sorted(r.run_id for r in runs) == ["hourly-20261102-1000", "hourly-20261102-1100"]
        assert all(r.status is RunStatus.SUCCEEDED for r in runs)
