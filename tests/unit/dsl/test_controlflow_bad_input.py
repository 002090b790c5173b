"""Control-flow mistakes are compile errors that say what is wrong and what to write."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runner import (
    Collected,
    Dataset,
    Elif,
    Else,
    ExitHandler,
    If,
    Input,
    Model,
    OneOf,
    Output,
    ParallelFor,
    PipelineTaskFinalStatus,
    component,
    pipeline,
)
from runner.errors import CompileError, ComponentError


@component
def number() -> int:
    return 1


@component
def word() -> str:
    return "a"


@component
def values() -> list:
    return [1, 2]


@component
def make(data: Output[Dataset]) -> None:
    return None


@component
def use(x: int) -> None:
    return None


@component
def use_any(x: int = 0) -> int:
    return x


@component
def use_list(xs: list) -> None:
    return None


@component
def use_models(models: Input[list[Model]]) -> None:
    return None


@component
def use_model(model: Input[Model]) -> None:
    return None


@component
def fit(model: Output[Model]) -> int:
    return 1


@component
def notify(status: PipelineTaskFinalStatus) -> None:
    return None


def fails(body: Callable[..., None], fragment: str) -> str:
    """Compile a pipeline around ``body``; it must fail with ``fragment`` in the message."""
    definition = pipeline(body)
    with pytest.raises(CompileError, match=fragment) as caught:
        definition.compile()
    return str(caught.value)


# --- conditions -----------------------------------------------------------------------


def test_a_python_if_on_an_output_says_to_use_with_if() -> None:
    def flow() -> None:
        n = number()
        if n.output > 0:
            use(x=1)

    message = fails(flow, "no truth value")
    assert "with If(...)" in message
    assert "test_controlflow_bad_input.py:" in message


def test_and_or_not_and_chained_comparisons_are_refused() -> None:
    def with_and() -> None:
        n = number()
        with If((n.output > 0) and (n.output < 5)):
            use(x=1)

    def chained() -> None:
        n = number()
        with If(0 < n.output < 5):
            use(x=1)

    assert "& | ~" in fails(with_and, "no truth value")
    assert "(x > 0) & (x < 1)" in fails(chained, "no truth value")


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda n, w: n.output > "a", "the int output 'output' of task 'number' with the str"),
        (lambda n, w: w.output < 3, "incompatible types"),
        (lambda n, w: n.output == "3", "incompatible types"),
        (lambda n, w: n.output > True, "incompatible types"),
        (lambda n, w: n.output < [1], "incompatible types"),
        (lambda n, w: n.output > float("nan"), "not a finite number"),
        (lambda n, w: n.output == n, "not a JSON value"),
    ],
)
def test_comparisons_between_incompatible_types(
    build: Callable[..., object], fragment: str
) -> None:
    def flow() -> None:
        n, w = number(), word()
        with If(build(n, w)):  # type: ignore[arg-type]
            use(x=1)

    fails(flow, fragment)


def test_artifacts_cannot_be_compared() -> None:
    def flow() -> None:
        m = make()
        with If(m.outputs["data"] == "x"):
            use(x=1)

    fails(flow, "is an artifact and cannot be compared")


def test_a_condition_on_an_output_that_does_not_exist() -> None:
    def flow() -> None:
        n = number()
        with If(n.outputs["accuracy"] > 0.9):
            use(x=1)

    fails(flow, "has no output 'accuracy'")


def test_if_needs_a_comparison() -> None:
    def flow() -> None:
        n = number()
        with If(n.output):  # type: ignore[arg-type]
            use(x=1)

    fails(flow, r"takes a comparison .* If\(task.output > 0.9\)")
    with pytest.raises(CompileError, match="takes a comparison"):
        If(True)  # type: ignore[arg-type]


def test_elif_and_else_must_follow_an_if_directly() -> None:
    def alone() -> None:
        n = number()
        with Else():
            use(x=n.output)

    def interrupted() -> None:
        n = number()
        with If(n.output > 1):
            use(x=1)
        use(x=2)
        with Elif(n.output > 0):
            use(x=3)

    def after_else() -> None:
        n = number()
        with If(n.output > 1):
            use(x=1)
        with Else():
            use(x=2)
        with Else():
            use(x=3)

    for flow in (alone, interrupted, after_else):
        fails(flow, r"must come right after a `with If\(...\)`")


def test_blocks_need_tasks_and_a_pipeline() -> None:
    def empty() -> None:
        n = number()
        with If(n.output > 1):
            pass

    fails(empty, "holds no task")
    with pytest.raises(CompileError, match="only meaningful inside a @pipeline"), ParallelFor([1]):
        pass


# --- loops ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        (lambda: 3, "iterates over a list"),
        (lambda: make().outputs["data"], "a loop needs a list parameter output"),
        (lambda: number().output, "a loop needs a list parameter output"),
        (lambda: [1, float("inf")], "not a finite number"),
    ],
)
def test_loop_items_must_be_a_list(items: Callable[[], object], fragment: str) -> None:
    def flow() -> None:
        with ParallelFor(items()):
            use(x=1)

    fails(flow, fragment)


def test_a_loop_over_a_parameter_that_is_not_a_list() -> None:
    def flow(n: int = 3) -> None:
        with ParallelFor(n):
            use(x=1)

    fails(flow, "pipeline parameter 'n', a int; declare it as a list")


def test_bad_parallelism() -> None:
    for bad in (-1, True, 1.5):
        with pytest.raises(CompileError, match="parallelism must be a positive integer"):
            ParallelFor([1], parallelism=bad)  # type: ignore[arg-type]


def test_a_missing_field_of_constant_items() -> None:
    def flow() -> None:
        with ParallelFor([{"lr": 1}, {"depth": 2}]) as item:
            use(x=item.lr)

    fails(flow, r"item 1 \(\{'depth': 2\}\) has no field item.lr")


def test_the_item_outside_its_loop_or_into_an_artifact() -> None:
    kept = []

    def outside() -> None:
        with ParallelFor([1, 2]) as item:
            kept.append(item)
            use(x=1)
        use(x=kept[0])

    def artifact() -> None:
        with ParallelFor([1, 2]) as item:
            use_model(model=item)

    fails(outside, "outside that loop")
    fails(artifact, "artifact")


def test_an_iteration_output_outside_its_loop_needs_collected() -> None:
    def flow() -> None:
        with ParallelFor([1, 2]):
            n = number()
        use(x=n.output)

    fails(flow, r"outside that loop read all its values with Collected\(number.output\)")


@pytest.mark.parametrize("where", ["outside", "inside", "two-out"])
def test_collected_in_the_wrong_place(where: str) -> None:
    def flow() -> None:
        if where == "outside":
            n = number()
            use_list(xs=Collected(n.output))
            return
        with ParallelFor([1, 2]):
            with ParallelFor([3]):
                n = number()
                if where == "inside":
                    use_list(xs=Collected(n.output))
            use(x=1)
        use_list(xs=Collected(n.output))

    fragment = {
        "outside": "is not inside a ParallelFor, so it has one value",
        "inside": "inside the loop pass number.output directly",
        "two-out": "use it right after ParallelFor 'for-loop-2'",
    }[where]
    fails(flow, fragment)


def test_collected_types() -> None:
    def into_int() -> None:
        with ParallelFor([1, 2]):
            n = number()
        use(x=Collected(n.output))

    def artifacts_into_one() -> None:
        with ParallelFor([1, 2]):
            f = fit()
        use_model(model=Collected(f.outputs["model"]))

    def one_into_list() -> None:
        f = fit()
        use_models(models=f.outputs["model"])

    fails(into_int, r"expects int but got Collected")
    fails(artifacts_into_one, r"declare the argument as Input\[list\[Model\]\]")
    fails(one_into_list, r"pass Collected\(fit.outputs\['model'\]\)")


def test_list_artifacts_in_signatures() -> None:
    with pytest.raises(ComponentError, match=r"Input\[list\[Model\]\]"):

        @component
        def bare(models: list[Model]) -> None: ...

    with pytest.raises(ComponentError, match="can only be an input"):

        @component
        def out(models: Output[list[Model]]) -> None: ...


def test_one_of_needs_two_outputs_of_one_kind() -> None:
    def one() -> None:
        n = number()
        use(x=OneOf(n.output))  # type: ignore[arg-type]

    def mixed() -> None:
        n, f = number(), fit()
        use(x=OneOf(n.output, f.outputs["model"]))

    fails(one, "two or more task outputs")
    fails(mixed, "mixes artifacts and parameters")


def test_a_loop_that_depends_on_its_own_result_is_a_cycle() -> None:
    def flow() -> None:
        first = use_any()
        with ParallelFor([1, 2]):
            n = number().after(first)
        first.after(n)

    fails(flow, "dependency cycle")


def test_a_cycle_through_a_loop_is_found_even_when_tasks_alone_have_none() -> None:
    def flow() -> None:
        with ParallelFor([1, 2]):
            n = number()
        total = use_list(xs=Collected(n.output))
        with ParallelFor([3]):
            use_any().after(total)

    # A waits for the first loop, the second loop for A: fine. Now close the circle.
    pipeline(flow).compile()

    def circle() -> None:
        first = use_any()
        with ParallelFor([1, 2]):
            n = number()
            use_any(x=first.output)
        first.after(n)

    fails(circle, "dependency cycle")


def test_a_task_cannot_take_a_loops_name() -> None:
    def flow() -> None:
        with ParallelFor([1]):
            use(x=1)
        use(x=2).set_name("for-loop-1")

    fails(flow, "is the name of the ParallelFor")


# --- exit handlers and upstream failures ----------------------------------------------


def test_exit_handler_mistakes() -> None:
    def with_data() -> None:
        n = number()
        bye = use(x=n.output)
        with ExitHandler(bye):
            use(x=1)

    def twice() -> None:
        bye = notify()
        with ExitHandler(bye):
            use(x=1)
        with ExitHandler(bye):
            use(x=2)

    def elsewhere() -> None:
        bye = notify()
        with ParallelFor([1]), ExitHandler(bye):
            use(x=1)

    def unused_status() -> None:
        notify()

    fails(with_data, "must not depend on other tasks")
    fails(twice, "already handles another ExitHandler")
    fails(elsewhere, "same block")
    fails(unused_status, r"only an ExitHandler's exit task receives")
    with pytest.raises(CompileError, match="takes a task created before"):
        ExitHandler("notify")  # type: ignore[arg-type]


def test_the_final_status_is_not_passed_by_hand() -> None:
    def flow() -> None:
        notify(status={"state": "SUCCEEDED"})

    with pytest.raises(CompileError, match="filled in by the runner"):
        pipeline(flow).compile()


def test_ignore_upstream_failure_needs_defaults_for_upstream_inputs() -> None:
    def flow() -> None:
        n = number()
        use(x=n.output).ignore_upstream_failure()

    fails(flow, "input 'x' comes from task 'number' and has no default")
