"""decide with ParallelFor: lazy iterations, parallelism, items, Collected, nesting, failures."""

from __future__ import annotations

from typing import Any

import pytest

from runner.core import LaunchStep, Plan, RunStatus, StepStatus
from runner.errors import PipelineDefinitionError
from runner.events import StepSkipped
from runner.spec import (
    CollectedInput,
    ConstantInput,
    LoopItemInput,
    ParameterDecl,
    ParameterType,
    PipelineSpec,
)
from runner.spec import PipelineParameterInput as Param
from tests.unit.core.factories import (
    Driver,
    artifact,
    compare,
    component,
    kinds,
    launched_steps,
    launches,
    loop,
    out,
    published,
    spec,
    statuses,
    task,
)

ITEM = LoopItemInput(loop="for-1")


def sweep(items: Any = None, parallelism: int | None = None, body_condition: Any = None) -> Plan:
    """make → for-1 over make.out: train(x=item) → score(t=train.out); best(Collected(score))."""
    return Plan.from_spec(sweep_spec(items, parallelism, body_condition))


def sweep_spec(
    items: Any = None,
    parallelism: int | None = None,
    body_condition: Any = None,
    parameters: tuple[ParameterDecl, ...] = (),
) -> PipelineSpec:
    source = out("make") if items is None else items
    deps = ("make",) if items is None else ()
    return spec(
        task("make"),
        task(
            "train",
            component="train",
            inputs={"x": ITEM},
            loop="for-1",
            condition=body_condition,
        ),
        task("score", "train", component="score", inputs={"t": out("train")}, loop="for-1"),
        task(
            "best",
            "score",
            component="best",
            inputs={"xs": CollectedInput(task="score", output="out")},
        ),
        components=[
            component("train", params=["x"]),
            component("score", params=["t"]),
            component("best", params=["xs"]),
        ],
        loops=[loop("for-1", source, *deps, parallelism=parallelism)],
        parameters=parameters,
    )


def finish_iteration(d: Driver, i: int, value: Any) -> list[str]:
    d.run_step(f"train[{i}]", out=value)
    return launched_steps(d.run_step(f"score[{i}]", out=value * 10))


def test_iterations_start_lazily_and_never_exceed_the_parallelism() -> None:
    plan = sweep(parallelism=2)
    assert plan.roots == ("make",)
    assert plan.tasks["make"].children == ("for-1",)
    assert plan.loops["for-1"].body == ("train", "score")
    assert plan.loops["for-1"].children == ("best",)
    d = Driver(plan)
    d.request()
    assert "train[0]" not in d.run.steps
    decision = d.run_step("make", out=[1, 2, 3, 4, 5])
    assert launched_steps(decision) == ["train[0]", "train[1]"]
    assert sorted(d.run.steps) == ["best", "make", "score[0]", "score[1]", "train[0]", "train[1]"]
    assert d.run.loops["for-1"].open == {0: 2, 1: 2}
    assert launched_steps(d.run_step("train[1]", out=2)) == ["score[1]"]
    assert finish_iteration(d, 0, 1) == ["train[2]"]
    assert launched_steps(d.run_step("score[1]", out=20)) == ["train[3]"]
    for i in (2, 3):
        finish_iteration(d, i, i + 1)
    assert d.run.loops["for-1"].open == {4: 2}
    d.run_step("train[4]", out=5)
    (best,) = launches(d.run_step("score[4]", out=50))
    assert best.step == "best"
    assert best.parameters == {"xs": [10, 20, 30, 40, 50]}
    assert d.run.loops["for-1"].status is StepStatus.SUCCEEDED
    assert kinds(d.run_step("best")) == ["run.succeeded"]
    assert d.run.unfinished == 0


def test_each_iteration_is_its_own_step_with_its_item_and_cache_key() -> None:
    d = Driver(sweep(items=[3, 1, 3]))
    decision = d.request()
    by_step = {a.step: a for a in launches(decision) if a.task == "train"}
    assert list(by_step) == ["train[0]", "train[1]", "train[2]"]
    assert all(a.task == "train" for a in by_step.values())
    assert [a.parameters["x"] for a in by_step.values()] == [3, 1, 3]
    assert by_step["train[0]"].id == "launch/r1/train[0]/1"
    keys = [a.cache_key for a in by_step.values()]
    assert keys[0] == keys[2] != keys[1]  # cached on its own inputs only
    d.launched("train[1]")
    assert d.run.steps["train[1]"].status is StepStatus.RUNNING


def test_items_may_be_dicts_read_field_by_field() -> None:
    comp = component("fit", params=["lr", "depth"])
    lr = LoopItemInput(loop="for-1", path=["lr"])
    depth = LoopItemInput(loop="for-1", path=["cfg", 0])
    items = [{"lr": 0.1, "cfg": [3]}, {"lr": 0.2, "cfg": [5]}, {"cfg": [1]}]
    plan = Plan.from_spec(
        spec(
            task("fit", component="fit", inputs={"lr": lr, "depth": depth}, loop="for-1"),
            components=[comp],
            loops=[loop("for-1", items)],
        )
    )
    d = Driver(plan)
    decision = d.request()
    assert [a.parameters for a in launches(decision)] == [
        {"lr": 0.1, "depth": 3},
        {"lr": 0.2, "depth": 5},
    ]
    error = d.run.steps["fit[2]"].error
    assert error is not None
    assert error.reason == "MissingInput"
    assert "item.lr" in error.message
    assert "iteration 2" in error.message


def test_loop_over_a_parameter() -> None:
    grid = ParameterDecl(name="grid", type=ParameterType.LIST)
    d = Driver(Plan.from_spec(sweep_spec(items=Param(parameter="grid"), parameters=(grid,))))
    assert launched_steps(d.request(grid=[7, 8])) == ["make", "train[0]", "train[1]"]


def test_items_that_are_not_a_list_fail_the_run_naming_the_step_and_type() -> None:
    d = Driver(sweep())
    d.request()
    decision = d.run_step("make", out={"a": 1})
    assert launched_steps(decision) == []
    assert kinds(decision) == ["step.skipped", "run.failed"]
    skipped = published(decision)[0]
    assert skipped.step == "best"
    assert isinstance(skipped.data, StepSkipped)
    assert (skipped.data.reason, skipped.data.upstream) == ("upstream_failed", "for-1")
    error = d.run.error
    assert error is not None
    assert error.reason == "InvalidLoopItems"
    assert error.step == "make"
    assert "output 'out' of step 'make'" in error.message
    assert "which is a dict" in error.message
    assert d.run.loops["for-1"].status is StepStatus.FAILED


def test_an_empty_list_runs_no_iteration_and_collects_nothing() -> None:
    d = Driver(sweep())
    d.request()
    (best,) = launches(d.run_step("make", out=[]))
    assert best.parameters == {"xs": []}
    assert d.run.loops["for-1"].status is StepStatus.SUCCEEDED
    assert kinds(d.run_step("best")) == ["run.succeeded"]


def test_a_failed_iteration_fails_the_loop_but_not_its_siblings() -> None:
    d = Driver(sweep(items=[1, 2, 3], parallelism=2))
    d.request()
    d.run_step("make")
    decision = d.failed("train[0]")
    assert launched_steps(decision) == ["train[2]"]  # the next iteration still starts
    assert kinds(decision) == ["step.skipped"]
    assert published(decision)[0].step == "score[0]"
    finish_iteration(d, 1, 2)
    decision = d.run_step("train[2]", out=3)
    last = d.run_step("score[2]", out=30)
    assert kinds(last) == ["step.skipped", "run.failed"]
    assert d.run.loops["for-1"].status is StepStatus.FAILED
    assert statuses(d.run)["best"] == "skipped"
    assert d.run.error is not None
    assert d.run.error.step == "train[0]"


def test_conditions_in_the_body_see_the_item_and_collected_keeps_what_ran() -> None:
    odd = compare(ITEM, "!=", 2)
    d = Driver(sweep(items=[1, 2, 3], body_condition=odd))
    decision = d.request()
    assert launched_steps(decision) == ["make", "train[0]", "train[2]"]
    skipped = [e.step for e in published(decision) if e.kind.value == "step.skipped"]
    assert skipped == ["train[1]", "score[1]"]
    finish_iteration(d, 0, 1)
    d.run_step("train[2]", out=3)
    (best,) = launches(d.run_step("score[2]", out=30))
    assert best.parameters == {"xs": [10, 30]}


def test_collected_artifacts_are_a_list_keyed_by_their_digests() -> None:
    model = component("model", outputs=[], artifact_outputs=["m"])
    pick = component("pick", artifacts=["models"]).model_copy()
    pick = pick.model_copy(update={"inputs": [pick.inputs[0].model_copy(update={"is_list": True})]})
    plan = Plan.from_spec(
        spec(
            task("model", component="model", loop="for-1"),
            task(
                "pick",
                "model",
                component="pick",
                inputs={"models": CollectedInput(task="model", output="m")},
            ),
            components=[model, pick],
            loops=[loop("for-1", [1, 2])],
        )
    )
    d = Driver(plan)
    d.request()
    refs = [artifact(f"m{i}", digest=f"sha256:{i}") for i in range(2)]
    d.launched("model[1]")
    d.succeeded("model[1]", outputs={"m": refs[1]})
    (launch,) = launches(d.succeeded("model[0]", outputs={"m": refs[0]}))
    assert launch.artifacts == {"models": refs}
    reordered = LaunchStep.model_validate(launch.model_dump(mode="json"))
    assert reordered.artifacts == {"models": refs}


def test_cancel_stops_the_open_iterations_and_starts_no_more() -> None:
    d = Driver(sweep(items=list(range(10)), parallelism=2))
    d.request()
    d.run_step("make")
    d.launched("train[0]")
    decision = d.cancel()
    assert [s.step for s in decision.actions if s.type == "stop_step"] == ["train[0]"]
    assert sorted(e.step or "" for e in published(decision)) == ["score[0]", "score[1]", "train[1]"]
    assert d.run.status is RunStatus.CANCELLING
    decision = d.failed("train[0]", reason="Cancelled")
    assert launched_steps(decision) == []
    assert kinds(decision) == ["step.skipped", "run.cancelled"]  # best, then the run
    assert d.run.loops["for-1"].status is StepStatus.CANCELLED
    assert d.run.loops["for-1"].next == 2
    assert d.run.status is RunStatus.CANCELLED


def test_a_loop_under_a_false_condition_is_skipped_with_its_fan_in() -> None:
    plan = sweep(items=[1, 2])
    gated = plan.spec.loops[0].model_copy(update={"condition": compare(1, "==", 2)})
    d = Driver(Plan.from_spec(plan.spec.model_copy(update={"loops": [gated]})))
    decision = d.request()
    assert launched_steps(decision) == ["make"]
    best = next(e for e in published(decision) if e.step == "best")
    assert isinstance(best.data, StepSkipped)
    assert (best.data.reason, best.data.upstream) == ("condition", "for-1")
    assert d.run.loops["for-1"].status is StepStatus.SKIPPED
    assert not any(name.startswith("train[") for name in d.run.steps)


def test_nested_loops_name_iterations_outermost_first() -> None:
    inner_item = LoopItemInput(loop="inner")
    plan = Plan.from_spec(
        spec(
            task("leaf", component="leaf", inputs={"x": inner_item}, loop="inner"),
            task(
                "sub",
                "leaf",
                component="sum",
                inputs={"xs": CollectedInput(task="leaf", output="out")},
                loop="outer",
            ),
            task(
                "total",
                "sub",
                component="sum",
                inputs={"xs": CollectedInput(task="sub", output="out")},
            ),
            components=[component("leaf", params=["x"]), component("sum", params=["xs"])],
            loops=[
                loop("outer", [[1, 2], [3]]),
                loop("inner", LoopItemInput(loop="outer"), inside="outer"),
            ],
        )
    )
    assert plan.loops["inner"].depth == 1
    assert plan.tasks["leaf"].depth == 2
    d = Driver(plan)
    decision = d.request()
    assert [(a.step, a.parameters) for a in launches(decision)] == [
        ("leaf[0,0]", {"x": 1}),
        ("leaf[0,1]", {"x": 2}),
        ("leaf[1,0]", {"x": 3}),
    ]
    assert set(d.run.loops) == {"outer", "inner[0]", "inner[1]"}
    d.run_step("leaf[0,1]", out=2)
    (sub0,) = launches(d.run_step("leaf[0,0]", out=1))
    assert (sub0.step, sub0.parameters) == ("sub[0]", {"xs": [1, 2]})
    (sub1,) = launches(d.run_step("leaf[1,0]", out=3))
    assert (sub1.step, sub1.parameters) == ("sub[1]", {"xs": [3]})
    d.run_step("sub[1]", out=3)
    (total,) = launches(d.run_step("sub[0]", out=3))
    assert total.parameters == {"xs": [3, 3]}
    assert kinds(d.run_step("total")) == ["run.succeeded"]


def test_redelivered_iteration_events_change_nothing() -> None:
    d = Driver(sweep(items=[1, 2], parallelism=1))
    d.request()
    d.run_step("train[0]", out=1)
    first = d.run_step("score[0]", out=10)
    assert launched_steps(first) == ["train[1]"]
    before = d.run.model_dump_json()
    assert d.succeeded("score[0]", out=10).actions == []
    assert d.succeeded("train[0]", out=1).actions == []
    assert d.run.model_dump_json() == before


def test_events_for_iterations_that_do_not_exist_are_rejected() -> None:
    d = Driver(sweep(items=[1, 2], parallelism=1))
    d.request()
    assert d.succeeded("train[5]").rejected == "step not in state"
    assert d.succeeded("ghost[0]").rejected is not None


def test_loops_lift_dependencies_to_their_scope() -> None:
    plan = Plan.from_spec(
        spec(
            task("prep"),
            task("fit", "prep", component="fit", inputs={"x": out("prep")}, loop="for-1"),
            task("report").model_copy(update={"dependencies": ["fit"]}),
            components=[component("fit", params=["x"])],
            loops=[loop("for-1", [1])],
        )
    )
    assert plan.top == ("prep", "report", "for-1")
    assert plan.loops["for-1"].parents == ("prep",)
    assert plan.tasks["report"].parents == ("for-1",)
    assert plan.tasks["fit"].parents == ()
    assert plan.loops["for-1"].body_roots == ("fit",)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"loops": [loop("make", [1])]}, "two tasks or loops named 'make'"),
        ({"loops": [loop("for-1", [1], inside="ghost")]}, "not a loop listed before it"),
        ({"loops": [loop("for-1", out("train"), "train")]}, "runs inside it"),
        ({"loops": [loop("for-1", ConstantInput(value=3))]}, "constant 3, which is not a list"),
        ({"loops": [loop("for-1", LoopItemInput(loop="zz"))]}, "does not enclose it"),
        ({"loops": []}, "which the spec does not define"),
    ],
)
def test_bad_loop_specs_are_refused(change: dict[str, Any], fragment: str) -> None:
    bad = sweep(items=[1]).spec.model_copy(update=change)
    with pytest.raises(PipelineDefinitionError, match=fragment):
        Plan.from_spec(bad)


def test_collected_must_come_from_a_loop_of_the_consumers_scope() -> None:
    base = sweep(items=[1]).spec
    wrong = base.tasks[3].model_copy(update={"loop": "for-1"})
    with pytest.raises(PipelineDefinitionError, match="not directly inside"):
        Plan.from_spec(base.model_copy(update={"tasks": [*base.tasks[:3], wrong]}))
    direct = base.tasks[3].model_copy(update={"inputs": {"xs": out("score")}})
    with pytest.raises(PipelineDefinitionError, match="Collected input after the loop"):
        Plan.from_spec(base.model_copy(update={"tasks": [*base.tasks[:3], direct]}))
