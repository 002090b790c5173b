"""decide on lost attempts: relaunched at once, without spending the retry policy."""

from __future__ import annotations

import pytest

from runner.core import RunStatus, StepStatus
from runner.core.scheduler_steps import LOST_RELAUNCHES
from tests.unit.core.factories import Driver, dag, kinds, launches


@pytest.mark.parametrize("reason", ["Lost", "NodeLost"])
def test_a_lost_attempt_is_relaunched_at_once_even_without_retries(reason: str) -> None:
    d = Driver(dag({"a": [], "b": ["a"]}))  # max_attempts=1: no retry policy
    d.request()
    d.launched("a", 1)
    decision = d.failed("a", 1, reason=reason)
    assert kinds(decision) == ["step.retrying"]
    (launch,) = launches(decision)
    assert launch.attempt == 2
    assert launch.not_before == d.now  # no backoff: it was not the step's fault
    step = d.run.steps["a"]
    assert (step.attempt, step.lost) == (2, 1)
    d.run_step("a", 2)
    d.run_step("b", 1)
    assert d.run.status is RunStatus.SUCCEEDED


def test_lost_attempts_do_not_count_against_the_retry_policy() -> None:
    d = Driver(dag({"a": []}, max_attempts=2))
    d.request()
    d.failed("a", 1, reason="Lost")  # attempt 2 is still the first real try
    decision = d.failed("a", 2)  # a real failure: one retry left
    assert kinds(decision) == ["step.retrying"]
    (launch,) = launches(decision)
    assert launch.attempt == 3
    decision = d.failed("a", 3)  # the second real failure: out of attempts
    assert launches(decision) == []
    assert d.run.status is RunStatus.FAILED
    assert d.run.steps["a"].status is StepStatus.FAILED


def test_lost_relaunches_are_bounded() -> None:
    d = Driver(dag({"a": []}))
    d.request()
    for attempt in range(1, LOST_RELAUNCHES + 1):
        assert len(launches(d.failed("a", attempt, reason="Lost"))) == 1
    decision = d.failed("a", LOST_RELAUNCHES + 1, reason="Lost")
    assert launches(decision) == []
    assert d.run.status is RunStatus.FAILED
    error = d.run.steps["a"].error
    assert error is not None
    assert error.reason == "Lost"


def test_a_lost_attempt_of_a_cancelling_run_is_cancelled_not_relaunched() -> None:
    d = Driver(dag({"a": []}))
    d.request()
    d.launched("a", 1)
    d.cancel()
    decision = d.failed("a", 1, reason="Lost")
    assert launches(decision) == []
    assert d.run.steps["a"].status is StepStatus.CANCELLED
    assert d.run.status is RunStatus.CANCELLED


def test_a_duplicate_lost_report_changes_nothing() -> None:
    d = Driver(dag({"a": []}))
    d.request()
    d.failed("a", 1, reason="Lost")
    decision = d.failed("a", 1, reason="Lost")
    assert decision.actions == []
    assert d.run.steps["a"].lost == 1
