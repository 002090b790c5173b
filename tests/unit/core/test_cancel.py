"""decide on cancellation: stop what runs, skip what waits, end the run; late events."""

from __future__ import annotations

from runner.core import LaunchStep, RunStatus, StepStatus, complete_actions
from runner.events import RunCancelled, StepSkipped
from tests.unit.core.factories import (
    RUN,
    Driver,
    dag,
    kinds,
    launches,
    published,
    statuses,
    stops,
)


def _three_branches() -> Driver:
    """a (running) -> a2;  b (launch confirmed? no: performed, unconfirmed) -> b2;  c (queued)."""
    d = Driver(dag({"a": [], "b": [], "c": [], "a2": ["a"], "b2": ["b"], "c2": ["c"]}))
    d.request()
    d.launched("a")
    # The shell performed the launches of a and b; c's is still in the outbox.
    complete_actions(
        d.run, [f"launch/{RUN}/a/1", f"launch/{RUN}/b/1", f"publish/{RUN}/run.started"]
    )
    return d


def test_cancel_stops_running_skips_pending_and_withdraws_queued_launches() -> None:
    d = _three_branches()
    decision = d.cancel("operator said so")
    assert d.run.status.value == "cancelling"
    assert [(s.step, s.attempt, s.launch_id, s.id) for s in stops(decision)] == [
        ("a", 1, "a-1", f"stop/{RUN}/a/1"),
        ("b", 1, None, f"stop/{RUN}/b/1"),
    ]
    skipped = {e.step for e in published(decision)}
    assert skipped == {"c", "a2", "b2", "c2"}
    for event in published(decision):
        assert event.data == StepSkipped(
            reason="cancelled", message="run cancelled: operator said so"
        )
    # c's launch never happens: it left the outbox.
    assert not [a for a in d.run.outbox if isinstance(a, LaunchStep)]
    assert d.run.active == {"a": 1, "b": 1}
    assert d.run.unfinished == 2

    # Stopped steps report; a failure while cancelling is a cancellation.
    assert d.failed("a", reason="Killed").actions == []
    assert d.run.steps["a"].status is StepStatus.CANCELLED
    # A step that finished anyway keeps its success, and the run ends.
    last = d.succeeded("b")
    assert launches(last) == []
    assert kinds(last) == ["run.cancelled"]
    assert published(last)[0].data == RunCancelled(reason="operator said so")
    assert d.run.status is RunStatus.CANCELLED
    assert statuses(d.run) == {
        "a": "cancelled",
        "b": "succeeded",
        "c": "skipped",
        "a2": "skipped",
        "b2": "skipped",
        "c2": "skipped",
    }


def test_cancel_with_nothing_running_ends_at_once() -> None:
    d = Driver(dag({"a": [], "b": ["a"]}))
    d.request()
    decision = d.cancel()
    assert kinds(decision) == ["step.skipped", "step.skipped", "run.cancelled"]
    assert stops(decision) == []
    assert d.run.status is RunStatus.CANCELLED


def test_cancel_during_retry_backoff_skips_and_withdraws_the_retry() -> None:
    d = Driver(dag({"a": []}, max_attempts=3))
    d.request()
    d.failed("a", 1)
    assert d.run.steps["a"].status is StepStatus.WAITING
    assert f"launch/{RUN}/a/2" in {a.id for a in d.run.outbox}
    decision = d.cancel()
    assert kinds(decision) == ["step.skipped", "run.cancelled"]
    assert stops(decision) == []
    assert f"launch/{RUN}/a/2" not in {a.id for a in d.run.outbox}


def test_late_launch_of_a_withdrawn_step_is_stopped_once() -> None:
    d = Driver(dag({"a": []}))
    d.request()
    d.cancel()
    assert d.run.status is RunStatus.CANCELLED
    # The shell had already started the launch when the cancel was applied.
    decision = d.launched("a")
    assert [(s.step, s.launch_id) for s in stops(decision)] == [("a", "a-1")]
    assert d.run.steps["a"].status is StepStatus.SKIPPED
    assert d.launched("a").actions == []


def test_late_events_after_cancel_are_ignored() -> None:
    d = Driver(dag({"a": [], "b": ["a"]}))
    d.request()
    d.launched("a")
    d.cancel()
    d.failed("a", reason="Cancelled")
    assert d.run.status is RunStatus.CANCELLED
    before = d.run.model_dump_json()
    for late in (d.started("a"), d.succeeded("a"), d.failed("a"), d.cancel(), d.succeeded("b")):
        assert late.actions == []
        assert late.rejected is None
    assert d.run.model_dump_json() == before


def test_cancel_of_a_finished_run_is_a_no_op() -> None:
    d = Driver(dag({"a": []}))
    d.request()
    d.run_step("a")
    before = d.run.model_dump_json()
    assert d.cancel().actions == []
    assert d.run.model_dump_json() == before
    assert d.run.status is RunStatus.SUCCEEDED


def test_cancel_after_a_failure_ends_cancelled() -> None:
    d = Driver(dag({"a": [], "b": []}))
    d.request()
    d.launched("b")
    d.failed("a")
    d.cancel()
    assert kinds(d.failed("b", reason="Cancelled")) == ["run.cancelled"]
    assert d.run.status is RunStatus.CANCELLED
