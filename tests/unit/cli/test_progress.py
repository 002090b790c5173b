"""The progress model and the plain (no TTY) view: one line per state change."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from runner.cli.progress import LiveView, PlainView, RunProgress, make_view
from runner.cli.summary import status_lines, summary_lines
from runner.core.state import RunState, RunStatus, StepState, StepStatus
from runner.events import (
    ArtifactRef,
    ErrorInfo,
    EventKind,
    RunCancelled,
    RunFailed,
    RunStarted,
    StepCached,
    StepFailed,
    StepLaunched,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    make_event,
)
from runner.events.envelope import Event
from runner.events.models import StepPending, _Data
from runner.records import RunRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ERR = ErrorInfo(
    reason="Exception",
    message="bad value\nsecond line",
    type="ValueError",
    traceback="Traceback (most recent call last):\n"
    + "".join(f"  line {i}\n" for i in range(20))
    + "ValueError: bad value",
)


def event(kind: EventKind, data: _Data, step: str | None = None, at: float = 0) -> Event:
    attempt = getattr(data, "attempt", None)
    return make_event(
        kind,
        run_id="r1",
        pipeline="p",
        data=data,
        time=T0 + timedelta(seconds=at),
        step=step,
        attempt=attempt,
    )


def lines_for(progress: RunProgress, events: list[Event]) -> list[str]:
    out = io.StringIO()
    view = PlainView(progress, out)
    for e in events:
        view.update(e)
    return [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in out.getvalue().splitlines()]


def test_one_line_per_state_change() -> None:
    progress = RunProgress("r1", ["prepare", "train", "report"])
    lines = lines_for(
        progress,
        [
            event(EventKind.RUN_STARTED, RunStarted(pipeline_digest="d", steps=3)),
            event(
                EventKind.STEP_CACHED,
                StepCached(cache_key="k", producer_run="r0", producer_step="prepare"),
                "prepare",
            ),
            event(
                EventKind.STEP_LAUNCHED,
                StepLaunched(attempt=1, executor="local", launch_id="x"),
                "train",
            ),
            event(EventKind.STEP_STARTED, StepStarted(attempt=1), "train", 1),
            event(EventKind.STEP_FAILED, StepFailed(attempt=1, error=ERR), "train", 2),
            event(
                EventKind.STEP_RETRYING,
                StepRetrying(attempt=1, next_attempt=2, delay_seconds=1.5, retry_at=T0, error=ERR),
                "train",
                2,
            ),
            event(
                EventKind.STEP_SUCCEEDED,
                StepSucceeded(attempt=2, duration_seconds=3.25),
                "train",
                6,
            ),
            event(
                EventKind.STEP_SKIPPED,
                StepSkipped(reason="upstream_failed", upstream="x"),
                "report",
            ),
            event(EventKind.RUN_FAILED, RunFailed(error=ERR)),
        ],
    )
    assert lines == [
        "run          started    r1",
        "prepare      cached     from r0",
        "train        launching  attempt 1",
        "train        running    attempt 1",
        "train        failed     attempt 1: ValueError: bad value",
        "train        waiting    attempt 1 failed; retry as attempt 2 in 1.5s",
        "train        succeeded  attempt 2 in 3.2s",
        "report       skipped    upstream failed (x)",
        "run          failed     bad value",
    ]
    rows = progress.rows
    assert (rows["train"].state, rows["train"].attempt) == ("succeeded", 2)
    assert rows["prepare"].cached
    assert progress.state == "failed"


def test_cancelled_steps_and_unknown_steps() -> None:
    progress = RunProgress("r1", ["a"])
    stopped = ErrorInfo(reason="Cancelled", message="stopped on request")
    lines = lines_for(
        progress,
        [
            event(EventKind.STEP_FAILED, StepFailed(attempt=1, error=stopped), "a"),
            event(EventKind.STEP_STARTED, StepStarted(attempt=1), "b[0]"),
            event(EventKind.RUN_CANCELLED, RunCancelled(reason="by me")),
        ],
    )
    assert lines[0].split()[:2] == ["a", "cancelled"]
    assert "b[0]" in progress.rows, "steps not in the spec (iterations) get a row"
    assert lines[-1].split()[:3] == ["run", "cancelled", "by"]


def test_views_pick_plain_without_a_terminal() -> None:
    progress = RunProgress("r1", ["a"])
    assert isinstance(make_view(progress, io.StringIO(), plain=False), PlainView)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(make_view(progress, Tty(), plain=False), LiveView)
    assert isinstance(make_view(progress, Tty(), plain=True), PlainView)


def _record(status: RunStatus) -> RunRecord:
    metrics = ArtifactRef(
        uri="file:///m", digest="sha256:1", size=9, kind="Metrics", metadata={"acc": 0.9}
    )
    state = RunState(
        run_id="r1",
        pipeline="p",
        pipeline_digest="0" * 64,
        spec_uri="file:///spec",
        parameters={"n": 1, "name": "x"},
        status=status,
        created_at=T0,
        finished_at=T0 + timedelta(seconds=3),
        cancel_reason="by me" if status is RunStatus.CANCELLED else None,
        steps={
            "train": StepState(
                status=StepStatus.SUCCEEDED,
                attempt=1,
                outputs={"metrics": metrics},
                parameters={"output": 2},
            ),
            "boom": StepState(status=StepStatus.FAILED, attempt=2, error=ERR),
        },
    )
    return RunRecord.from_state(state)


def test_summary_of_a_failed_run_shows_error_traceback_tail_and_logs_hint() -> None:
    lines = summary_lines(_record(RunStatus.FAILED), "file:///store/runs/r1")
    assert lines[0] == "run r1 failed in 3.0s: 2 step(s) (1 succeeded, 1 failed)"
    assert lines[1] == "step boom failed (attempt 2, Exception): ValueError: bad value\nsecond line"
    assert lines[2:10] == [f"  | {x}" for x in ERR.traceback.splitlines()[-8:]]  # type: ignore[union-attr]
    assert "  full log: runner logs r1 boom" in lines
    assert "outputs: file:///store/runs/r1" not in lines, "no outputs line for a failed run"
    assert lines[-1] == "metrics train/metrics: acc=0.9"


def test_summary_of_a_cancelled_run_and_status_view() -> None:
    lines = summary_lines(_record(RunStatus.CANCELLED))
    assert "cancelled: by me" in lines
    view = status_lines(_record(RunStatus.SUCCEEDED))
    assert "params:     n=1, name='x'" in view
    table = [line for line in view if line.startswith(("STEP", "train"))]
    assert table[0].split() == ["STEP", "STATUS", "CACHED", "ATTEMPTS", "DURATION", "OUTPUTS"]
    assert table[1].split() == [
        "train",
        "succeeded",
        "no",
        "1",
        "-",
        "metrics",
        "(9",
        "B),",
        "output=2",
    ]


def test_a_pending_attempt_says_why() -> None:
    progress = RunProgress("r1", ["train"])
    pending = StepPending(
        attempt=1, reason="Unschedulable", message="0/3 nodes are available: 3 Insufficient gpu"
    )
    lines = lines_for(progress, [event(EventKind.STEP_PENDING, pending, "train")])
    [line] = lines
    assert line.split()[:2] == ["train", "pending"]
    assert line.endswith("attempt 1: Unschedulable: 0/3 nodes are available: 3 Insufficient gpu")
    assert progress.rows["train"].state == "pending"


def test_summary_of_a_cached_run_says_where_cached_outputs_live() -> None:
    state = RunState(
        run_id="r2",
        pipeline="p",
        pipeline_digest="d",
        spec_uri="file:///store/pipelines/p/d.json",
        status=RunStatus.SUCCEEDED,
        created_at=T0,
        steps={"train": StepState(status=StepStatus.CACHED, cached=True)},
    )
    record = RunRecord.from_state(state)
    lines = summary_lines(record, outputs_uri="file:///store/runs/r2")
    [outputs] = [line for line in lines if line.startswith("outputs:")]
    assert "runs that produced them" in outputs
    assert "runner status r2 --json" in outputs
