"""Plan.from_spec: the index decide relies on, and the specs it refuses."""

from __future__ import annotations

import pytest

from runner.core import Plan
from runner.errors import PipelineDefinitionError
from runner.spec import (
    ConstantInput,
    ParameterDecl,
    ParameterType,
    PipelineParameterInput,
    TaskOutputInput,
)
from tests.unit.core.factories import component, dag, spec, task


def test_index_of_a_diamond() -> None:
    plan = dag({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []})
    assert list(plan.tasks) == ["a", "b", "c", "d", "e"]
    assert plan.roots == ("a", "e")
    assert plan.tasks["a"].children == ("b", "c")
    assert plan.tasks["d"].parents == ("b", "c")
    assert plan.tasks["d"].children == ()
    assert plan.tasks["b"].component.name == "noop"
    assert plan.name == "demo"
    assert len(plan) == 5
    assert plan.digest == plan.spec.digest()
    assert plan.task("b") is plan.spec.tasks[1]
    assert plan.component_of("b") is plan.spec.components["noop"]
    with pytest.raises(KeyError):
        plan.task("ghost")


def test_bound_inputs_know_their_kind() -> None:
    comp = component("c", params=["n"], artifacts=["data"])
    plan = Plan.from_spec(
        spec(
            task("a"),
            task(
                "b",
                "a",
                component="c",
                inputs={
                    "n": ConstantInput(value=1),
                    "data": TaskOutputInput(task="a", output="data"),
                },
            ),
            components=[comp],
        )
    )
    assert [(i.name, i.artifact) for i in plan.tasks["b"].inputs] == [("n", False), ("data", True)]


@pytest.mark.parametrize(
    ("tasks", "fragment"),
    [
        ([task("a"), task("a")], "two tasks named 'a'"),
        ([task("a", component="ghost")], "component 'ghost'"),
        ([task("a", "ghost")], "depends on 'ghost'"),
        ([task("a", "b"), task("b", "a")], "dependency cycle through a, b"),
        ([task("a", "a")], "dependency cycle through a"),
        (
            [task("a"), task("b", inputs={"x": ConstantInput(value=1)})],
            "binds input 'x', which component 'noop' does not declare",
        ),
    ],
)
def test_unschedulable_specs_are_refused(tasks: list[object], fragment: str) -> None:
    with pytest.raises(PipelineDefinitionError, match=fragment):
        Plan.from_spec(spec(*tasks))  # type: ignore[arg-type]


def test_output_binding_must_be_a_dependency() -> None:
    comp = component("c", params=["n"])
    bad = spec(
        task("a"),
        task("b", component="c", inputs={"n": TaskOutputInput(task="a", output="out")}),
        components=[comp],
    )
    with pytest.raises(PipelineDefinitionError, match="does not list it in its dependencies"):
        Plan.from_spec(bad)


def test_parameter_binding_must_be_declared() -> None:
    comp = component("c", params=["n"])
    bad = spec(
        task("a", component="c", inputs={"n": PipelineParameterInput(parameter="rows")}),
        components=[comp],
    )
    with pytest.raises(PipelineDefinitionError, match="pipeline parameter 'rows'"):
        Plan.from_spec(bad)


def test_duplicate_parameter_is_refused() -> None:
    p = ParameterDecl(name="x", type=ParameterType.INT)
    with pytest.raises(PipelineDefinitionError, match="declares a parameter twice"):
        Plan.from_spec(spec(parameters=[p, p]))


def test_plan_is_read_only() -> None:
    plan = dag({"a": []})
    with pytest.raises(TypeError):
        plan.tasks["b"] = plan.tasks["a"]  # type: ignore[index]
