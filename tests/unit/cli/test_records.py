"""RunRecord built from a run state: the shape `--json` and `runner status --json` print."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runner.core.state import RunState, RunStatus, StepState, StepStatus
from runner.events.models import ArtifactRef, ErrorInfo
from runner.records import RunRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DATA = ArtifactRef(uri="file:///s/runs/r1/make/data", digest="sha256:aa", size=12, kind="Dataset")
METRICS = ArtifactRef(
    uri="file:///s/runs/r1/stats/metrics",
    digest="sha256:bb",
    size=20,
    kind="Metrics",
    metadata={"mean": 1.5, "max": 3},
)
ERROR = ErrorInfo(reason="Exception", message="boom", type="ValueError", traceback="tb")


def state(status: RunStatus = RunStatus.SUCCEEDED) -> RunState:
    return RunState(
        run_id="r1",
        pipeline="small",
        pipeline_digest="d" * 64,
        spec_uri="file:///s/pipelines/small/d.json",
        parameters={"n": 3},
        experiment="exp",
        status=status,
        created_at=T0,
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=6),
        steps={
            "stats": StepState(
                status=StepStatus.SUCCEEDED,
                attempt=2,
                outputs={"metrics": METRICS},
                parameters={"output": 1.5},
                started_at=T0 + timedelta(seconds=3),
                finished_at=T0 + timedelta(seconds=5.5),
                cache_key="k2",
            ),
            "make": StepState(
                status=StepStatus.CACHED,
                cached=True,
                outputs={"data": DATA},
                parameters={"output": 3},
            ),
            "boom": StepState(status=StepStatus.FAILED, attempt=1, error=ERROR),
        },
    )


def test_record_fields_from_state() -> None:
    record = RunRecord.from_state(state())
    assert (record.run_id, record.pipeline, record.digest) == ("r1", "small", "d" * 64)
    assert record.params == {"n": 3}
    assert record.experiment == "exp"
    assert record.status is RunStatus.SUCCEEDED
    assert record.duration_seconds == 5.0, "from start to finish"
    stats = record.steps["stats"]
    assert (stats.status, stats.cached, stats.attempts) == (StepStatus.SUCCEEDED, False, 2)
    assert stats.duration_seconds == 2.5
    assert stats.metrics == {"metrics": {"mean": 1.5, "max": 3}}
    assert stats.output_values == {"output": 1.5}
    assert stats.outputs["metrics"].uri == METRICS.uri
    make = record.steps["make"]
    assert make.cached is True
    assert make.duration_seconds is None
    assert make.metrics == {}, "only Metrics artifacts are metrics"
    assert record.steps["boom"].error == ERROR
    assert [s.name for s in record.failed_steps()] == ["boom"]
    assert record.counts() == {StepStatus.SUCCEEDED: 1, StepStatus.CACHED: 1, StepStatus.FAILED: 1}


def test_steps_follow_the_given_order_then_the_rest() -> None:
    record = RunRecord.from_state(state(), order=["make", "stats", "missing"])
    assert list(record.steps) == ["make", "stats", "boom"]


def test_record_round_trips_through_json() -> None:
    record = RunRecord.from_state(state(RunStatus.FAILED))
    again = RunRecord.model_validate_json(record.model_dump_json())
    assert again == record
    dumped = record.model_dump(mode="json")
    assert dumped["steps"]["stats"]["outputs"]["metrics"] == {
        "uri": METRICS.uri,
        "digest": "sha256:bb",
        "size": 20,
        "kind": "Metrics",
        "metadata": {"mean": 1.5, "max": 3},
    }
    assert dumped["status"] == "failed"


def test_unfinished_run_has_no_duration() -> None:
    running = state(RunStatus.RUNNING).model_copy(update={"finished_at": None})
    assert RunRecord.from_state(running).duration_seconds is None
