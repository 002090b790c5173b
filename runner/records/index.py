"""The run index: one small summary per run, so run history is listed without
loading every run state.

A run state holds every step (hundreds of KiB for a large DAG); listing 10,000
runs by reading each one is 10,000 reads and parses. The controller therefore
writes a :class:`RunSummary` (a few hundred bytes) to the ``runner-run-index``
KV bucket whenever a run changes status, under the key
``<experiment>.<pipeline>.<run id>``. Listing is one pass over that bucket
(:meth:`~runner.bus.base.KVBucket.values`), and the experiment and pipeline
filters are subject filters the server applies.

The index is a derived view, so it is written best-effort and repaired:
the controller backfills it from the run states when it starts (which also
covers runs recorded before the index existed, marked by :data:`BUILT_KEY`),
and a reader re-checks the few entries that still say a run is active.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.bus.base import Bus, KVBucket
from runner.core.state import RunState, RunStatus, StepStatus
from runner.errors import RunnerError

__all__ = [
    "BUILT_KEY",
    "INDEX_BUCKET",
    "RunIndex",
    "RunSummary",
    "index_key",
    "referenced_runs",
]

log = logging.getLogger(__name__)

INDEX_BUCKET = "runner-run-index"
BUILT_KEY = "meta.built"
"""Written once the index holds every run (two tokens: never matches ``*.*.*``)."""
MAX_INLINE_PARAMS_BYTES = 2048
"""Parameters larger than this stay in the run state only (``params_truncated``)."""

_RUN_IN_URI = re.compile(r"/runs/([a-z0-9][a-z0-9-]{0,62})/")


class RunSummary(BaseModel):
    """What ``runner runs list`` shows of a run, and what it filters on."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    pipeline: str
    version: str | None = None
    digest: str
    experiment: str = "default"
    status: RunStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    requested_by: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    params_truncated: bool = False
    steps: int = 0
    done: int = 0
    """Steps that succeeded or were cached."""
    failed: int = 0
    error_reason: str | None = None
    uses: list[str] = Field(default_factory=list)
    """Other runs whose artifacts this run read (cache hits, URI parameters): where
    ``runner lineage --downstream`` looks for consumers."""

    @property
    def duration_seconds(self) -> float | None:
        end, start = self.finished_at, self.started_at or self.created_at
        return max((end - start).total_seconds(), 0.0) if end else None

    @classmethod
    def from_state(cls, state: RunState) -> RunSummary:
        """The summary of ``state``: O(steps), done only when the status changes."""
        params = dict(state.parameters)
        truncated = len(json.dumps(params, default=str)) > MAX_INLINE_PARAMS_BYTES
        done = failed = 0
        for step in state.steps.values():
            done += step.status.done
            failed += step.status is StepStatus.FAILED
        return cls(
            run_id=state.run_id,
            pipeline=state.pipeline,
            version=state.version,
            digest=state.pipeline_digest,
            experiment=state.experiment,
            status=state.status,
            created_at=state.created_at,
            started_at=state.started_at,
            finished_at=state.finished_at,
            requested_by=state.requested_by,
            labels={k: v[:200] for k, v in list(state.labels.items())[:20]},
            params={} if truncated else params,
            params_truncated=truncated,
            steps=len(state.steps),
            done=done,
            failed=failed,
            error_reason=state.error.reason if state.error else None,
            uses=referenced_runs(state),
        )


def referenced_runs(state: RunState) -> list[str]:
    """Runs other than ``state``'s whose outputs it used: the producers of its cached
    steps' outputs, and runs named by ``.../runs/<run>/...`` URIs in its parameters."""
    found: set[str] = set()
    for step in state.steps.values():
        if step.cached or step.status is StepStatus.CACHED:
            for ref in step.outputs.values():
                found.update(_RUN_IN_URI.findall(ref.uri + "/"))
    for value in state.parameters.values():
        if isinstance(value, str):
            found.update(_RUN_IN_URI.findall(value + "/"))
    found.discard(state.run_id)
    return sorted(found)


def index_key(experiment: str, pipeline: str, run_id: str) -> str:
    return f"{experiment}.{pipeline}.{run_id}"


def _pattern(experiment: str | None, pipeline: str | None) -> str:
    return f"{experiment or '*'}.{pipeline or '*'}.*"


class RunIndex:
    """Reads and writes the run index bucket of one NATS."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._kv: KVBucket | None = None

    async def bucket(self) -> KVBucket:
        if self._kv is None:
            self._kv = await self.bus.kv_bucket(INDEX_BUCKET, description="runner run index")
        return self._kv

    async def put(self, summary: RunSummary) -> None:
        kv = await self.bucket()
        key = index_key(summary.experiment, summary.pipeline, summary.run_id)
        await kv.put(key, summary.model_dump_json(exclude_defaults=True).encode())

    async def record(self, state: RunState) -> None:
        """Best effort: a failed write is logged, and repaired by the next backfill."""
        try:
            await self.put(RunSummary.from_state(state))
        except RunnerError as exc:
            log.warning("run %s: could not update the run index: %s", state.run_id, exc)

    async def scan(
        self, *, experiment: str | None = None, pipeline: str | None = None
    ) -> list[RunSummary]:
        """Every indexed run, optionally of one experiment and/or pipeline (unordered)."""
        kv = await self.bucket()
        found = []
        for key, value in await kv.values(_pattern(experiment, pipeline)):
            try:
                found.append(RunSummary.model_validate_json(value))
            except ValidationError:
                log.warning("run index entry %s is unreadable; skipping it", key)
        return found

    async def built(self) -> bool:
        return await (await self.bucket()).get(BUILT_KEY) is not None

    async def backfill(self, summaries: Iterable[RunSummary]) -> int:
        """Write the entries that are missing or out of date; mark the index built.
        Returns how many were written."""
        have = {(s.run_id, s.status) for s in await self.scan()}
        written = 0
        for summary in summaries:
            if (summary.run_id, summary.status) not in have:
                await self.put(summary)
                written += 1
        await (await self.bucket()).put(BUILT_KEY, b"1")
        return written
