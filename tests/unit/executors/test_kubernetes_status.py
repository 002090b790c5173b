"""Reading pod and Job status into failure reasons (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from runner.executors.kubernetes_status import failure, pending, pending_failure, reported


def pod(
    *,
    terminated: dict[str, Any] | None = None,
    waiting: dict[str, Any] | None = None,
    **status: Any,
) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"waiting": waiting} if waiting else {}
    statuses = [{"name": "step", "state": state}] if state else []
    return {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"},
            "status": {"containerStatuses": statuses, **status}}  # fmt: skip


DEADLINE = ("Failed", "DeadlineExceeded")
OOM = {"exitCode": 137, "reason": "OOMKilled"}
DONE = {"exitCode": 0, "reason": "Completed"}
GC = [{"type": "DisruptionTarget", "status": "True", "message": "PodGC"}]


def job(condition: str = "Failed", reason: str = "BackoffLimitExceeded") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": condition, "status": "True", "reason": reason,
                                       "message": "msg"}]}}  # fmt: skip


@pytest.mark.parametrize("message", ["succeeded", "failed", "failed\n"])
def test_a_step_that_reported_is_not_reported_again(message: str) -> None:
    done = pod(terminated={"exitCode": 1, "reason": "Error", "message": message})
    assert reported(done)
    assert failure("s", job(), done) is None


@pytest.mark.parametrize(
    ("the_pod", "the_job", "reason", "words"),
    [
        (pod(terminated=OOM), job(), "OOMKilled", "memory"),
        (pod(terminated={"exitCode": 2, "reason": "Error"}), job(), "ExitCode", "code 2"),
        (pod(terminated=DONE), job("Complete", ""), "NotReported", "exited 0"),
        (pod(terminated={"exitCode": 137, "reason": "Error"}), job(), "Killed", "SIGKILL"),
        (pod(terminated={"exitCode": 143, "reason": "Error"}), job(), "Signal", "SIGTERM"),
        (pod(phase="Failed", reason="Evicted", message="low mem"), job(), "Evicted", "low mem"),
        (pod(phase="Failed", conditions=GC), job(), "NodeLost", "PodGC"),
        (pod(phase="Unknown"), job(), "NodeLost", "n1"),
        (None, job(*DEADLINE), "Timeout", "DeadlineExceeded"),
        (pod(terminated={"exitCode": 143}), job(*DEADLINE), "Timeout", "set_timeout"),
        (None, job(), "Lost", "BackoffLimitExceeded"),
        (None, None, "Lost", "gone"),
        (pod(phase="Failed", reason="Admission", message="no GPU"), job(), "Lost", "no GPU"),
    ],
)  # fmt: skip
def test_silent_deaths_are_named(the_pod, the_job, reason: str, words: str) -> None:
    error = failure("train", the_job, the_pod, log_tail="last line")
    assert error is not None
    assert error.reason == reason
    assert words in error.message
    assert "train" in error.message


def test_an_exit_carries_the_log_tail() -> None:
    error = failure("s", job(), pod(terminated={"exitCode": 3}), log_tail="Traceback: boom")
    assert error is not None
    assert error.exit_code == 3
    assert "Traceback: boom" in error.message


def test_pending_reasons() -> None:
    unschedulable = pod(phase="Pending", conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }])  # fmt: skip
    what = pending(unschedulable)
    assert what is not None
    assert what.unschedulable
    assert what.since is not None
    assert what.since.year == 2025
    error = pending_failure("train", what, 600)
    assert error.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in error.message
    pulling = pending(pod(waiting={"reason": "ImagePullBackOff", "message": "back-off"}))
    assert pulling is not None
    assert pending_failure("t", pulling, 120).reason == "ImagePullBackOff"
    assert pending(pod(waiting={"reason": "ContainerCreating"})) is None
    assert pending(pod(phase="Running")) is None
