"""A real pipeline end to end: nats-server, controller, local processes, file store."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.api import submit
from runner.config import Settings
from runner.core import RunStatus, StepStatus
from runner.stack import Stack
from tests.integration.runtime.conftest import count_calls
from tests.integration.runtime.pipelines import ETL

pytestmark = pytest.mark.integration

STEPS = ("make", "square", "total", "stats", "report")


async def run_etl(stack: Stack, loaded, calls: Path, n: int = 10):  # type: ignore[no-untyped-def]
    handle = await submit(
        loaded.pipeline,
        {"n": n, "log_dir": str(calls)},
        bus=stack.bus,
        store=stack.store,
        source_root=loaded.source_root,
    )
    return await handle.wait(timeout=120)


async def test_pipeline_runs_then_is_cached_then_reruns_only_what_changed(
    stack: Stack, calls: Path, write_pipeline
) -> None:
    assert stack.executor is not None
    first = await run_etl(stack, write_pipeline(ETL, "etl"), calls)
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert {name: s.status for name, s in first.steps.items()} == dict.fromkeys(
        STEPS, StepStatus.SUCCEEDED
    )
    assert first.steps["report"].parameters["output"] == "sum of squares below 10 is 285"
    assert first.steps["stats"].outputs["metrics"].metadata["mean"] == pytest.approx(28.5)
    summary = first.steps["report"].outputs["summary"]
    content = await stack.store.get_bytes(stack.store.key_for(summary.uri))
    assert content == b"sum of squares below 10 is 285"
    assert summary.digest == "sha256:" + hashlib.sha256(content).hexdigest()
    assert all(count_calls(calls, step) == 1 for step in STEPS)
    launched = stack.executor.launched

    again = await run_etl(stack, write_pipeline(ETL, "etl"), calls)
    assert again.status is RunStatus.SUCCEEDED
    assert {s.status for s in again.steps.values()} == {StepStatus.CACHED}
    assert stack.executor.launched == launched, "a fully cached run must start no process"
    assert again.steps["report"].parameters == first.steps["report"].parameters

    edited = ETL.replace(
        'text = f"sum of squares below {n} is {t}"', 'text = f"{t} = sum of squares below {n}"'
    )
    third = await run_etl(stack, write_pipeline(edited, "etl"), calls)
    assert third.status is RunStatus.SUCCEEDED
    assert third.steps["report"].status is StepStatus.SUCCEEDED
    assert third.steps["report"].parameters["output"] == "285 = sum of squares below 10"
    assert all(third.steps[s].status is StepStatus.CACHED for s in STEPS[:-1])
    assert count_calls(calls, "report") == 2
    assert all(count_calls(calls, s) == 1 for s in STEPS[:-1])


async def test_a_different_parameter_misses_the_cache(
    stack: Stack, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(ETL, "etl")
    await run_etl(stack, loaded, calls, n=3)
    other = await run_etl(stack, loaded, calls, n=4)
    assert other.status is RunStatus.SUCCEEDED
    assert other.steps["make"].status is StepStatus.SUCCEEDED
    assert count_calls(calls, "make") == 2


async def test_corrupt_manifest_and_missing_output_are_misses(
    stack: Stack, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(ETL, "etl")
    first = await run_etl(stack, loaded, calls)
    assert first.status is RunStatus.SUCCEEDED
    # Truncate the manifest of `total`, delete the output object of `square`.
    total_key = first.steps["total"].cache_key
    assert total_key is not None
    manifest_key = f"cache/{total_key[:2]}/{total_key}.json"
    raw = await stack.store.get_bytes(manifest_key)
    await stack.store.put_bytes(manifest_key, raw[: len(raw) // 2])
    square_out = first.steps["square"].outputs["out"]
    await stack.store.delete(stack.store.key_for(square_out.uri))

    second = await run_etl(stack, loaded, calls)
    assert second.status is RunStatus.SUCCEEDED
    assert second.steps["make"].status is StepStatus.CACHED
    assert second.steps["square"].status is StepStatus.SUCCEEDED
    assert second.steps["total"].status is StepStatus.SUCCEEDED
    assert count_calls(calls, "square") == 2
    assert count_calls(calls, "total") == 2


@pytest.fixture
async def s3_stack(tmp_path: Path, s3_store_uri: str, s3_settings) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    storage = s3_settings.model_copy(update={"uri": s3_store_uri})
    settings = Settings(home=tmp_path / "home", storage=storage)
    async with Stack(settings) as local:
        yield local


async def test_pipeline_on_s3_store_then_fully_cached(
    s3_stack: Stack, calls: Path, write_pipeline
) -> None:
    assert s3_stack.store.uri.startswith("s3://")
    assert s3_stack.executor is not None
    loaded = write_pipeline(ETL, "etl")
    first = await run_etl(s3_stack, loaded, calls)
    assert first.status is RunStatus.SUCCEEDED, first.error
    summary = first.steps["report"].outputs["summary"]
    assert summary.uri.startswith(s3_stack.store.uri)
    assert await s3_stack.store.get_bytes(s3_stack.store.key_for(summary.uri)) == (
        b"sum of squares below 10 is 285"
    )
    launched = s3_stack.executor.launched
    second = await run_etl(s3_stack, loaded, calls)
    assert {s.status for s in second.steps.values()} == {StepStatus.CACHED}
    assert s3_stack.executor.launched == launched
