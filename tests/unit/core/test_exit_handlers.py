"""decide with exit handlers (success, failure, cancel) and ignore_upstream_failure."""

from __future__ import annotations

from typing import Any

from runner.core import LaunchStep, Plan, RunStatus, StepStatus
from runner.spec import FinalStatusInput, InputDecl, IOKind, LoopItemInput, ParameterType
from tests.unit.core.factories import (
    RUN,
    Driver,
    component,
    kinds,
    launched_steps,
    launches,
    loop,
    out,
    spec,
    stops,
    task,
)

NOTIFY = component("notify", params=["status"])


def guarded(body_loop: bool = False) -> Plan:
    """ExitHandler(notify): a → b (and, optionally, a loop of c)."""
    tasks = [
        task("a"),
        task("b", "a"),
        task("notify", "a", "b", component="notify", exit_handler=True).model_copy(
            update={"inputs": {"status": FinalStatusInput()}}
        ),
    ]
    loops = []
    if body_loop:
        tasks.insert(2, task("c", component="c", inputs={"x": LoopItemInput(loop="l")}, loop="l"))
        tasks[-1] = tasks[-1].model_copy(update={"dependencies": ["a", "b", "c"]})
        loops.append(loop("l", [1, 2]))
    return Plan.from_spec(
        spec(*tasks, components=[NOTIFY, component("c", params=["x"])], loops=loops)
    )


def status_of(launch: LaunchStep) -> dict[str, Any]:
    status: dict[str, Any] = launch.parameters["status"]
    return status


def test_the_exit_handler_waits_for_everything_and_sees_success() -> None:
    plan = guarded()
    assert plan.tasks["notify"].soft_parents == {"a", "b"}
    d = Driver(plan)
    assert launched_steps(d.request()) == ["a"]
    assert launched_steps(d.run_step("a")) == ["b"]
    (notify,) = launches(d.run_step("b"))
    assert notify.step == "notify"
    assert status_of(notify) == {
        "state": "SUCCEEDED",
        "run_id": RUN,
        "pipeline": "demo",
        "task": "notify",
        "error_message": None,
        "error_reason": None,
        "failed_step": None,
    }
    assert notify.cache_key is not None
    assert kinds(d.run_step("notify")) == ["run.succeeded"]


def test_the_exit_handler_runs_after_a_failure_and_gets_the_error() -> None:
    d = Driver(guarded())
    d.request()
    decision = d.failed("a")
    assert kinds(decision) == ["step.skipped"]  # b; the run waits for its exit handler
    (notify,) = launches(decision)
    status = status_of(notify)
    assert (status["state"], status["failed_step"]) == ("FAILED", "a")
    assert status["error_message"] == "a attempt 1 broke"
    assert d.run.status is RunStatus.RUNNING
    assert kinds(d.run_step("notify")) == ["run.failed"]
    assert d.run.error is not None
    assert d.run.error.step == "a"


def test_a_failing_exit_handler_adds_its_error_to_the_run_error() -> None:
    d = Driver(guarded())
    d.request()
    d.failed("a")
    d.launched("notify")
    assert kinds(d.failed("notify")) == ["run.failed"]
    assert d.run.error is not None
    assert d.run.error.step == "a"
    assert "a attempt 1 broke" in d.run.error.message
    assert "exit handler 'notify' failed too: notify attempt 1 broke" in d.run.error.message


def test_an_exit_handler_failing_alone_fails_the_run() -> None:
    d = Driver(guarded())
    d.request()
    d.run_step("a")
    d.run_step("b")
    d.launched("notify")
    assert kinds(d.failed("notify")) == ["run.failed"]
    assert d.run.error is not None
    assert d.run.error.step == "notify"


def test_cancel_lets_the_running_body_stop_then_runs_the_exit_handler() -> None:
    d = Driver(guarded())
    d.request()
    d.launched("a")
    decision = d.cancel()
    assert [s.step for s in stops(decision)] == ["a"]
    assert kinds(decision) == ["step.skipped"]  # b
    assert d.run.status is RunStatus.CANCELLING
    decision = d.failed("a", reason="Cancelled")
    (notify,) = launches(decision)
    assert status_of(notify)["state"] == "CANCELLED"
    assert d.run.steps["a"].status is StepStatus.CANCELLED
    # A second cancel does not stop the exit handler either.
    d.launched("notify")
    assert stops(d.cancel()) == []
    assert kinds(d.run_step("notify")) == ["run.cancelled"]
    assert d.run.status is RunStatus.CANCELLED


def test_a_running_exit_handler_is_not_stopped_by_a_cancel() -> None:
    d = Driver(guarded())
    d.request()
    d.run_step("a")
    d.run_step("b")
    d.launched("notify")
    decision = d.cancel()
    assert stops(decision) == []
    assert d.run.status is RunStatus.CANCELLING
    assert kinds(d.run_step("notify")) == ["run.cancelled"]


def test_a_failed_loop_in_the_body_is_the_exit_handlers_failure() -> None:
    d = Driver(guarded(body_loop=True))
    d.request()
    d.run_step("a")
    d.run_step("b")
    d.run_step("c[0]")
    (notify,) = launches(d.failed("c[1]"))
    status = status_of(notify)
    assert (status["state"], status["failed_step"]) == ("FAILED", "c[1]")


def test_ignore_upstream_failure_runs_once_upstream_finished_with_defaults() -> None:
    n = InputDecl(
        name="n", kind=IOKind.PARAMETER, parameter_type=ParameterType.INT, optional=True, default=-1
    )
    cleanup = component("cleanup").model_copy(update={"inputs": [n]})
    plan = Plan.from_spec(
        spec(
            task("a"),
            task("b", "a"),
            task(
                "cleanup",
                "b",
                component="cleanup",
                inputs={"n": out("b")},
                ignore_upstream_failure=True,
            ),
            components=[cleanup],
        )
    )
    d = Driver(plan)
    d.request()
    (launch,) = launches(d.failed("a"))
    assert launch.step == "cleanup"
    assert launch.parameters == {"n": -1}
    assert d.run.steps["b"].status is StepStatus.SKIPPED
    assert kinds(d.run_step("cleanup")) == ["run.failed"]

    ok = Driver(plan)
    ok.request()
    ok.run_step("a")
    (launch,) = launches(ok.run_step("b", out=7))
    assert launch.parameters == {"n": 7}
