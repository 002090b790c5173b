"""The run record: what a finished (or running) run produced, for people and scripts.

:class:`RunRecord` is built from the controller's :class:`~runner.core.RunState`
and is what ``runner run --json`` and ``runner status --json`` print. Library
users get the same object with :func:`RunRecord.from_state`. Unlike the run
state it is a stable, documented shape: no scheduler counters, no outbox, and
each step's metrics (the metadata of its ``Metrics`` artifacts) pulled out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runner.core.state import RunState, RunStatus, StepState, StepStatus
from runner.events.models import ArtifactRef, ErrorInfo

__all__ = ["OutputRecord", "RunRecord", "StepRecord", "duration_between"]

METRICS_KIND = "Metrics"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutputRecord(_Record):
    """An output artifact: where it is and what it is (never the bytes)."""

    uri: str
    digest: str
    size: int
    kind: str = "Artifact"
    metadata: dict[str, Any] = Field(default_factory=dict)


class StepRecord(_Record):
    """One step of a run."""

    name: str
    status: StepStatus
    cached: bool = False
    """True when the outputs came from the cache and nothing ran."""
    attempts: int = 0
    """Attempts launched (0 for a cached, skipped or never-started step)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    outputs: dict[str, OutputRecord] = Field(default_factory=dict)
    output_values: dict[str, Any] = Field(default_factory=dict)
    """Output parameters (the component's return value)."""
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Metrics artifact name -> its logged metrics."""
    cache_key: str | None = None
    error: ErrorInfo | None = None

    @classmethod
    def from_state(cls, name: str, step: StepState) -> StepRecord:
        return cls(
            name=name,
            status=step.status,
            cached=step.cached or step.status is StepStatus.CACHED,
            attempts=step.attempt,
            started_at=step.started_at,
            finished_at=step.finished_at,
            duration_seconds=duration_between(step.started_at, step.finished_at),
            outputs={k: _output(ref) for k, ref in step.outputs.items()},
            output_values=dict(step.parameters),
            metrics={k: dict(r.metadata) for k, r in step.outputs.items() if _is_metrics(r)},
            cache_key=step.cache_key,
            error=step.error,
        )


class RunRecord(_Record):
    """One run: identity, parameters, outcome and every step."""

    run_id: str
    pipeline: str
    digest: str
    """The pipeline digest (sha256 of its compiled spec)."""
    version: str | None = None
    experiment: str = "default"
    params: dict[str, Any] = Field(default_factory=dict)
    """Resolved pipeline parameters, defaults included."""
    status: RunStatus
    error: ErrorInfo | None = None
    cancel_reason: str | None = None
    requested_by: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    no_cache: bool = False
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    steps: dict[str, StepRecord] = Field(default_factory=dict)

    @classmethod
    def from_state(cls, state: RunState, order: Sequence[str] = ()) -> RunRecord:
        """The record of ``state``; steps in ``order`` first (e.g. the spec's), then the rest."""
        names = [n for n in order if n in state.steps]
        names += [n for n in state.steps if n not in set(names)]
        return cls(
            run_id=state.run_id,
            pipeline=state.pipeline,
            digest=state.pipeline_digest,
            version=state.version,
            experiment=state.experiment,
            params=dict(state.parameters),
            status=state.status,
            error=state.error,
            cancel_reason=state.cancel_reason,
            requested_by=state.requested_by,
            labels=dict(state.labels),
            no_cache=state.no_cache,
            created_at=state.created_at,
            started_at=state.started_at,
            finished_at=state.finished_at,
            duration_seconds=duration_between(
                state.started_at or state.created_at, state.finished_at
            ),
            steps={n: StepRecord.from_state(n, state.steps[n]) for n in names},
        )

    def counts(self) -> dict[StepStatus, int]:
        """How many steps are in each status (only statuses that occur)."""
        found: dict[StepStatus, int] = {}
        for step in self.steps.values():
            found[step.status] = found.get(step.status, 0) + 1
        return found

    def failed_steps(self) -> list[StepRecord]:
        return [s for s in self.steps.values() if s.status is StepStatus.FAILED]


def duration_between(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end``; ``None`` unless both are known."""
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def _is_metrics(ref: ArtifactRef) -> bool:
    return ref.kind == METRICS_KIND


def _output(ref: ArtifactRef) -> OutputRecord:
    return OutputRecord(
        uri=ref.uri, digest=ref.digest, size=ref.size, kind=ref.kind, metadata=dict(ref.metadata)
    )
