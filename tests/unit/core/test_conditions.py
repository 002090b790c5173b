"""decide with conditions: If/Elif/Else branches, skipped descendants, OneOf, bad operands."""

from __future__ import annotations

from typing import Any

import pytest

from runner.core import Plan, RunStatus, StepStatus
from runner.core.conditions import evaluate
from runner.core.state import RunState
from runner.core.values import Frame
from runner.errors import PipelineDefinitionError
from runner.events import ErrorInfo, StepSkipped
from runner.spec import (
    AllOf,
    AnyOf,
    CompareOp,
    Condition,
    Not,
    OneOfInput,
    ParameterDecl,
    ParameterType,
    PipelineParameterInput,
)
from tests.unit.core.factories import (
    T0,
    Driver,
    compare,
    component,
    kinds,
    launched_steps,
    launches,
    out,
    published,
    spec,
    statuses,
    task,
)

HIGH = compare(out("m"), ">", 0.9)
MIDDLE = compare(out("m"), ">", 0.5)


def branches() -> Plan:
    """m → If(m > 0.9): hi → after; Elif(m > 0.5): mid; Else: lo; pick(OneOf(hi, mid, lo))."""
    pick = component("pick", params=["v"])
    one_of = OneOfInput(options=[out("hi"), out("mid"), out("lo")])
    return Plan.from_spec(
        spec(
            task("m"),
            task("hi", "m", condition=HIGH),
            task("mid", "m", condition=AllOf(conditions=[Not(condition=HIGH), MIDDLE])),
            task(
                "lo",
                "m",
                condition=AllOf(conditions=[Not(condition=HIGH), Not(condition=MIDDLE)]),
            ),
            task("after", "hi"),
            task("pick", "hi", "lo", "mid", component="pick", inputs={"v": one_of}),
            components=[pick],
        )
    )


def test_the_true_branch_runs_and_the_others_are_skipped_for_their_condition() -> None:
    d = Driver(branches())
    d.request()
    decision = d.run_step("m", out=0.95)
    assert launched_steps(decision) == ["hi"]
    skipped = {e.step: e.data for e in published(decision) if e.kind.value == "step.skipped"}
    assert set(skipped) == {"mid", "lo"}
    assert isinstance(skipped["mid"], StepSkipped)
    assert skipped["mid"].reason == "condition"
    assert skipped["mid"].message is not None
    assert "m.outputs['out'] > 0.9" in skipped["mid"].message
    assert d.run.steps["pick"].waiting_on == 1  # the OneOf waits for hi only
    assert sorted(launched_steps(d.run_step("hi", out="from hi"))) == ["after", "pick"]
    (pick,) = [a for a in d.history[-1].actions if getattr(a, "step", "") == "pick"]
    assert pick.parameters == {"v": "from hi"}  # type: ignore[union-attr]
    d.run_step("after")
    assert kinds(d.run_step("pick")) == ["run.succeeded"]
    assert d.run.status is RunStatus.SUCCEEDED


def test_else_branch_and_steps_below_a_skipped_one_are_skipped_too() -> None:
    d = Driver(branches())
    d.request()
    decision = d.run_step("m", out=0.1)
    assert launched_steps(decision) == ["lo"]
    after = next(e for e in published(decision) if e.step == "after")
    assert isinstance(after.data, StepSkipped)
    assert (after.data.reason, after.data.upstream) == ("condition", "hi")
    (pick,) = launches(d.run_step("lo", out="from lo"))
    assert pick.parameters == {"v": "from lo"}
    d.run_step("pick")
    assert d.run.status is RunStatus.SUCCEEDED
    assert statuses(d.run) == {
        "m": "succeeded",
        "hi": "skipped",
        "mid": "skipped",
        "lo": "succeeded",
        "after": "skipped",
        "pick": "succeeded",
    }
    assert d.run.error is None


def test_one_of_with_no_branch_that_ran_is_skipped() -> None:
    never = compare(out("m"), "<", 0)
    pick = component("pick", params=["v"])
    plan = Plan.from_spec(
        spec(
            task("m"),
            task("a", "m", condition=never),
            task("b", "m", condition=never),
            task(
                "pick",
                "a",
                "b",
                component="pick",
                inputs={"v": OneOfInput(options=[out("a"), out("b")])},
            ),
            components=[pick],
        )
    )
    d = Driver(plan)
    d.request()
    decision = d.run_step("m", out=1)
    assert launched_steps(decision) == []
    pick_event = next(e for e in published(decision) if e.step == "pick")
    assert isinstance(pick_event.data, StepSkipped)
    assert pick_event.data.reason == "condition"
    assert "none of them ran" in (pick_event.data.message or "")
    assert d.run.status is RunStatus.SUCCEEDED


def test_a_condition_on_a_pipeline_parameter_gates_a_root() -> None:
    env = ParameterDecl(name="env", type=ParameterType.STR)
    gate = compare(PipelineParameterInput(parameter="env"), "==", "prod")
    plan = Plan.from_spec(spec(task("deploy", condition=gate), task("log"), parameters=[env]))
    assert launched_steps(Driver(plan).request(env="prod")) == ["deploy", "log"]
    d = Driver(plan)
    assert launched_steps(d.request(env="dev")) == ["log"]
    assert d.run.steps["deploy"].status is StepStatus.SKIPPED


def test_comparing_incompatible_values_fails_the_step_and_the_run() -> None:
    d = Driver(branches())
    d.request()
    decision = d.run_step("m", out="0.95")
    assert launched_steps(decision) == []
    failed = [e for e in published(decision) if e.kind.value == "step.failed"]
    assert [e.step for e in failed] == ["hi", "mid", "lo"]
    error = d.run.steps["hi"].error
    assert error is not None
    assert error.reason == "ConditionError"
    assert "str '0.95'" in error.message
    assert "number 0.9" in error.message
    assert d.run.status is RunStatus.FAILED
    assert d.run.error == error


def test_a_condition_on_an_output_that_was_not_produced_fails_the_step() -> None:
    d = Driver(branches())
    d.request()
    d.run_step("m", other=1)
    error = d.run.steps["hi"].error
    assert error is not None
    assert error.reason == "MissingInput"
    assert "'out'" in error.message
    assert d.run.status is RunStatus.FAILED


def test_a_condition_may_only_read_declared_parameter_outputs() -> None:
    bad = spec(task("m"), task("hi", "m", condition=compare(out("m", "nope"), ">", 1)))
    with pytest.raises(PipelineDefinitionError, match="output 'nope' of task 'm'"):
        Plan.from_spec(bad)
    undeclared = spec(task("m"), task("hi", condition=HIGH))
    with pytest.raises(PipelineDefinitionError, match="does not list it in its dependencies"):
        Plan.from_spec(undeclared)


def _holds(condition: Condition, **parameters: Any) -> bool | ErrorInfo:
    state = RunState(run_id="r", pipeline="p", pipeline_digest="d", spec_uri="s", created_at=T0)
    state.parameters = parameters
    plan = Plan.from_spec(spec())
    return evaluate(condition, Frame(plan, state, (), who="x"))


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        (1, "==", 1.0, True),
        (1, "!=", 2, True),
        ("a", "<", "b", True),
        (2.5, ">=", 2.5, True),
        (3, "<=", 2, False),
        (None, "==", None, True),
        (None, "!=", 0, True),
        ([1, 2], "==", [1, 2], True),
        ({"a": 1}, "!=", {"a": 1}, False),
        (True, "==", True, True),
        (True, "==", 1, "ConditionError"),
        (1, "<", "2", "ConditionError"),
        ("a", "==", 1, "ConditionError"),
        ([1], "<", [2], "ConditionError"),
        (None, "<", 1, "ConditionError"),
    ],
)
def test_comparisons_follow_json(left: Any, op: CompareOp, right: Any, expected: Any) -> None:
    result = _holds(compare(left, op, right))
    if isinstance(expected, str):
        assert isinstance(result, ErrorInfo)
        assert result.reason == expected
    else:
        assert result is expected


def test_and_or_not_combine_and_short_circuit() -> None:
    yes, no = compare(1, "==", 1), compare(1, "==", 2)
    broken = compare(1, "<", "x")
    assert _holds(AllOf(conditions=[yes, yes])) is True
    assert _holds(AllOf(conditions=[yes, no])) is False
    assert _holds(AnyOf(conditions=[no, yes])) is True
    assert _holds(Not(condition=no)) is True
    assert _holds(AllOf(conditions=[no, broken])) is False  # never reads the broken one
    assert _holds(AnyOf(conditions=[yes, broken])) is True
    assert isinstance(_holds(AnyOf(conditions=[no, broken])), ErrorInfo)
    assert isinstance(_holds(Not(condition=broken)), ErrorInfo)
    lr = PipelineParameterInput(parameter="lr")
    assert _holds(compare(lr, ">", 0.01), lr=0.1) is True
