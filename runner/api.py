"""Library entry points: submit a pipeline run and follow it.

``submit`` publishes the pipeline (compiles it, packs its source tree into a
content-addressed code package, stores the spec and the package:
:func:`~runner.records.pipelines.publish_pipeline`) and publishes
``run.requested`` (:func:`request_run`, which alone starts a run from a spec
and package already stored: registered versions, reruns, schedules). The
returned :class:`RunHandle` waits for the run, reads its state and streams
its events. Those live in :mod:`runner.records` (the features below the CLI
use them from there) and are re-exported here, the library face. The CLI is a
thin layer over these functions; tests use them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.bus.base import Bus
from runner.dsl.pipeline import PipelineDefinition
from runner.records.pipelines import publish_pipeline, source_root_of, store_spec
from runner.records.requests import RunHandle, new_run_id, request_run
from runner.spec.params import check_known_parameters
from runner.store.base import ArtifactStore

__all__ = ["RunHandle", "new_run_id", "request_run", "source_root_of", "store_spec", "submit"]


async def submit(
    pipeline: PipelineDefinition,
    parameters: Mapping[str, Any] | None = None,
    *,
    bus: Bus,
    store: ArtifactStore,
    no_cache: bool = False,
    experiment: str = "default",
    run_id: str | None = None,
    source_root: Path | None = None,
    requested_by: str = "api",
    labels: Mapping[str, str] | None = None,
) -> RunHandle:
    """Compile, package and request a run; returns at once with a handle."""
    spec = pipeline.compile()
    params = dict(parameters or {})
    check_known_parameters(spec, params)  # the same check and message as the CLI's
    published = await publish_pipeline(store, pipeline, source_root=source_root, spec=spec)
    return await request_run(
        bus=bus,
        pipeline=published.name,
        digest=published.digest,
        spec_uri=published.spec_uri,
        code=published.code,
        parameters=params,
        no_cache=no_cache,
        experiment=experiment,
        run_id=run_id,
        requested_by=requested_by,
        labels=labels,
    )
