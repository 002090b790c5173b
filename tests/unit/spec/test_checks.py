"""check_spec: the checks a compiled spec gets from the compiler and from Plan.from_spec."""

from __future__ import annotations

import pytest

from runner.errors import PipelineDefinitionError
from runner.spec import CollectedInput, ParameterDecl, ParameterType, PipelineSpec
from runner.spec.checks import check_spec, lift
from tests.unit.core.factories import component, loop, spec, task


def test_a_good_spec_gives_its_index() -> None:
    good = spec(
        task("a", loop="for-1"),
        task("b", "a", component="fan_in", inputs={"xs": CollectedInput(task="a", output="out")}),
        components=[component("fan_in", params=["xs"])],
        loops=[loop("for-1", [1, 2])],
        parameters=[ParameterDecl(name="n", type=ParameterType.INT)],
    )
    index = check_spec(good)
    assert list(index.tasks) == ["a", "b"]
    assert list(index.loops) == ["for-1"]
    assert list(index.parameters) == ["n"]
    assert index.enclosing == {"for-1": (), "a": ("for-1",), "b": ()}
    # b reads inside the loop: it waits for the whole loop.
    assert lift("a", "b", index.enclosing) == ("for-1", "b")


INT = ParameterDecl(name="n", type=ParameterType.INT)
STR = ParameterDecl(name="n", type=ParameterType.STR)


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (spec(task("a"), parameters=[INT, STR]), "declares a parameter twice"),
        (spec(task("a"), task("a")), "two tasks named 'a'"),
        (spec(task("a", "zz")), "task 'a' depends on 'zz', which is not a task"),
        (spec(task("a", "b"), task("b", "a")), "has a dependency cycle through a, b"),
        (
            spec(task("a", loop="for-1"), loops=[loop("for-1", [1], "a")]),
            "the loop depends on 'a', which runs inside it",
        ),
        (spec(task("a", loop="for-9")), "in loop 'for-9', which the spec does not define"),
    ],
)
def test_bad_specs_are_refused(bad: PipelineSpec, fragment: str) -> None:
    with pytest.raises(PipelineDefinitionError, match=fragment):
        check_spec(bad)
