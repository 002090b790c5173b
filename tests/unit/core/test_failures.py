"""decide on failure: retries with backoff, exhaustion, skipping downstream, run.failed."""

from __future__ import annotations

from datetime import timedelta

from runner.core import RunStatus, StepStatus
from runner.events import StepRetrying, StepSkipped
from tests.unit.core.factories import (
    RUN,
    Driver,
    dag,
    kinds,
    launched_steps,
    launches,
    published,
    statuses,
)


def test_retry_backoff_grows_then_caps_then_attempts_run_out() -> None:
    # backoff 10s, factor 2, capped at 25s; four attempts.
    d = Driver(dag({"a": []}, max_attempts=4))
    d.request()
    expected_delays = [10.0, 20.0, 25.0]
    for attempt, delay in enumerate(expected_delays, start=1):
        d.launched("a", attempt)
        decision = d.failed("a", attempt)
        assert kinds(decision) == ["step.retrying"]
        retrying = published(decision)[0]
        assert retrying.id == f"{RUN}/a/{attempt}/step.retrying"
        assert isinstance(retrying.data, StepRetrying)
        assert (retrying.data.attempt, retrying.data.next_attempt) == (attempt, attempt + 1)
        assert retrying.data.delay_seconds == delay
        retry_at = d.now + timedelta(seconds=delay)
        assert retrying.data.retry_at == retry_at
        (launch,) = launches(decision)
        assert (launch.attempt, launch.not_before) == (attempt + 1, retry_at)
        step = d.run.steps["a"]
        assert (step.status, step.attempt, step.retry_at) == (
            StepStatus.WAITING,
            attempt + 1,
            retry_at,
        )
        assert step.error is not None
        assert step.error.reason == "Exception"
        assert d.run.active == {"a": attempt + 1}
        d.tick(delay)

    d.launched("a", 4)
    decision = d.failed("a", 4)
    assert launches(decision) == []
    assert kinds(decision) == ["run.failed"]
    assert d.run.status is RunStatus.FAILED
    assert d.run.steps["a"].status is StepStatus.FAILED
    assert d.run.error is not None
    assert (d.run.error.step, d.run.error.message) == ("a", "a attempt 4 broke")


def test_retry_then_success_clears_error() -> None:
    d = Driver(dag({"a": [], "b": ["a"]}, max_attempts=2))
    d.request()
    d.failed("a", 1)
    assert launched_steps(d.run_step("a", 2)) == ["b"]
    assert d.run.steps["a"].error is None
    assert d.run.steps["a"].attempt == 2


def test_success_of_waiting_retry_before_its_launch_event_is_accepted() -> None:
    d = Driver(dag({"a": []}, max_attempts=2))
    d.request()
    d.failed("a", 1)
    assert kinds(d.succeeded("a", 2)) == ["run.succeeded"]


def test_cancelled_failure_is_never_retried() -> None:
    d = Driver(dag({"a": []}, max_attempts=3))
    d.request()
    decision = d.failed("a", 1, reason="Cancelled")
    assert launches(decision) == []
    assert kinds(decision) == ["run.failed"]


def test_failure_skips_downstream_transitively_and_independent_branch_continues() -> None:
    d = Driver(
        dag(
            {
                "a": [],
                "x": [],
                "b": ["a"],
                "c": ["b"],
                "d": ["b", "x"],
                "y": ["x"],
                "z": ["y"],
            }
        )
    )
    d.request()
    d.launched("x")
    decision = d.failed("a")
    assert kinds(decision) == ["step.skipped"] * 3
    skipped = {e.step: e for e in published(decision)}
    assert set(skipped) == {"b", "c", "d"}
    for event in skipped.values():
        assert event.data == StepSkipped(
            reason="upstream_failed", upstream="a", message="upstream step 'a' failed"
        )
    assert skipped["b"].id == f"{RUN}/b/step.skipped"
    assert d.run.status is RunStatus.RUNNING
    assert d.run.unfinished == 3  # x, y, z

    # The independent branch goes on; "d" (below both a and x) stays skipped.
    assert launched_steps(d.run_step("x")) == ["y"]
    assert d.run.steps["d"].status is StepStatus.SKIPPED
    assert launched_steps(d.run_step("y")) == ["z"]
    d.tick(5)
    last = d.run_step("z")
    assert kinds(last) == ["run.failed"]
    run_failed = published(last)[0]
    assert run_failed.data.model_dump()["error"]["reason"] == "Exception"
    assert run_failed.data.model_dump()["duration_seconds"] == 5.0
    assert statuses(d.run) == {
        "a": "failed",
        "x": "succeeded",
        "b": "skipped",
        "c": "skipped",
        "d": "skipped",
        "y": "succeeded",
        "z": "succeeded",
    }


def test_run_error_is_the_first_failure() -> None:
    d = Driver(dag({"a": [], "b": []}))
    d.request()
    d.failed("b")
    d.tick()
    decision = d.failed("a")
    assert d.run.error is not None
    assert d.run.error.step == "b"
    (event,) = published(decision)
    assert event.data.model_dump()["error"]["step"] == "b"


def test_skip_reaches_each_step_once_in_a_diamond() -> None:
    d = Driver(dag({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d"]}))
    d.request()
    decision = d.failed("a")
    steps = [str(e.step) for e in published(decision) if e.kind.value == "step.skipped"]
    assert sorted(steps) == ["b", "c", "d", "e"]
    assert kinds(decision)[-1] == "run.failed"
