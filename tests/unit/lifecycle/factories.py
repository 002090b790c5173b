"""Run states as the controller would record them, for lifecycle unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runner.core.state import RunState, RunStatus, StepState, StepStatus
from runner.events.models import ArtifactRef

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STORE = "file:///store"


def ref(run: str, step: str, output: str, kind: str = "Artifact", **metadata: Any) -> ArtifactRef:
    return ArtifactRef(
        uri=f"{STORE}/runs/{run}/{step}/{output}",
        digest="sha256:" + "ab" * 32,
        size=3,
        kind=kind,
        metadata=metadata,
    )


def run_state(
    run_id: str,
    *,
    pipeline: str = "iris",
    experiment: str = "default",
    status: RunStatus = RunStatus.SUCCEEDED,
    minutes: int = 0,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    version: str | None = "v1",
    cached_from: str | None = None,
) -> RunState:
    """A two-step run: ``prep`` (a dataset; cached from ``cached_from`` if given),
    then ``train`` (a model and metrics)."""
    created = T0 + timedelta(minutes=minutes)
    prep_run = cached_from or run_id
    steps = {
        "prep": StepState(
            status=StepStatus.CACHED if cached_from else StepStatus.SUCCEEDED,
            cached=cached_from is not None,
            outputs={"data": ref(prep_run, "prep", "data", "Dataset")},
        ),
        "train": StepState(
            status=StepStatus.SUCCEEDED if status.terminal else StepStatus.RUNNING,
            outputs={
                "model": ref(run_id, "train", "model", "Model"),
                "metrics": ref(run_id, "train", "metrics", "Metrics", **(metrics or {})),
            },
        ),
    }
    return RunState(
        run_id=run_id,
        pipeline=pipeline,
        pipeline_digest="d" * 64,
        spec_uri=f"{STORE}/pipelines/{pipeline}/{'d' * 64}.json",
        parameters=params or {},
        experiment=experiment,
        version=version,
        status=status,
        steps=steps,
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(seconds=30) if status.terminal else None,
    )
