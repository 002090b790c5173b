"""One valid event of every kind, shared by the codec and bus tests."""

from __future__ import annotations

from datetime import UTC, datetime

from runner.events import (
    ArtifactRef,
    CodeRef,
    ErrorInfo,
    Event,
    EventKind,
    RunCancelled,
    RunCancelRequested,
    RunFailed,
    RunRequested,
    RunStarted,
    RunSucceeded,
    StepCached,
    StepFailed,
    StepLaunched,
    StepPending,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    make_event,
)
from runner.events.models import _Data

NOW = datetime(2024, 5, 17, 12, 30, 15, 250000, tzinfo=UTC)
REF = ArtifactRef(uri="s3://bucket/runs/r1/train/model", digest="sha256:" + "ab" * 32, size=42)
ERR = ErrorInfo(reason="Exception", message="boom", type="ValueError", traceback="...")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

DATA: dict[EventKind, _Data] = {
    EventKind.RUN_REQUESTED: RunRequested(
        pipeline="iris",
        pipeline_digest="sha256:00",
        spec_uri="file:///tmp/store/pipelines/iris/00.json",
        code=CodeRef(uri="file:///tmp/store/code/ab.tar.gz", digest="sha256:ab"),
        parameters={"rows": 150, "lr": 0.1, "tags": ["a", "b"], "cfg": {"x": None}},
        labels={"team": "ml"},
    ),
    EventKind.RUN_STARTED: RunStarted(pipeline_digest="sha256:00", steps=3),
    EventKind.RUN_SUCCEEDED: RunSucceeded(duration_seconds=12.5),
    EventKind.RUN_FAILED: RunFailed(error=ERR),
    EventKind.RUN_CANCEL_REQUESTED: RunCancelRequested(),
    EventKind.RUN_CANCELLED: RunCancelled(reason="user"),
    EventKind.STEP_LAUNCHED: StepLaunched(attempt=1, executor="local", launch_id="1234"),
    EventKind.STEP_STARTED: StepStarted(attempt=1, host="laptop", pid=1234),
    EventKind.STEP_SUCCEEDED: StepSucceeded(
        attempt=1, outputs={"model": REF}, parameters={"Output": 0.93}, cache_key="k"
    ),
    EventKind.STEP_FAILED: StepFailed(attempt=2, error=ERR, duration_seconds=1.0),
    EventKind.STEP_CACHED: StepCached(
        cache_key="k", outputs={"model": REF}, producer_run="r0", producer_step="train"
    ),
    EventKind.STEP_RETRYING: StepRetrying(
        attempt=1, next_attempt=2, delay_seconds=10.0, retry_at=NOW, error=ERR
    ),
    EventKind.STEP_SKIPPED: StepSkipped(reason="upstream_failed", upstream="prepare"),
    EventKind.STEP_PENDING: StepPending(
        attempt=1,
        reason="Unschedulable",
        message="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
    ),
}


def sample(kind: EventKind, *, run_id: str = "r1", pipeline: str = "iris", **kw: object) -> Event:
    """A valid event of ``kind`` (step events are for step ``train``, attempt 1)."""
    step = "train" if kind.is_step else None
    attempt = getattr(DATA[kind], "attempt", None) if kind.is_step else None
    return make_event(
        kind,
        run_id=run_id,
        pipeline=pipeline,
        data=DATA[kind],
        time=NOW,
        step=step,
        attempt=attempt,
        traceparent=TRACEPARENT,
        **kw,  # type: ignore[arg-type]
    )
