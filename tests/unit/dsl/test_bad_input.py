"""Every bad input from the issue gets a clear runner.errors exception that names
the component/argument and, where possible, the file and line."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from runner import (
    Artifact,
    Dataset,
    Input,
    Model,
    Output,
    component,
    pipeline,
)
from runner.errors import (
    CompileError,
    ComponentError,
    PipelineDefinitionError,
    RunnerError,
    ValidationError,
)
from tests.unit.dsl._helpers import line_of


@component
def make(rows: int, data: Output[Dataset]) -> int:
    return rows


@component
def fit(data: Input[Model], lr: float = 0.1) -> float:
    return lr


@component
def anything(item: Input[Artifact]) -> None:
    return None


@component
def count(n: int) -> int:
    return n


@component
def label(text: str) -> str:
    return text


def _at(marker: str) -> str:
    """The ``file:line`` this test file shows for the line containing ``marker``."""
    return re.escape(line_of(__file__, marker))


# --- cycles -----------------------------------------------------------------------------


def test_cycle_via_after() -> None:
    @pipeline
    def flow() -> None:
        a = count(n=1)
        b = count(n=a.output)
        a.after(b)

    with pytest.raises(CompileError, match="dependency cycle") as err:
        flow.compile()
    message = str(err.value)
    assert "'count' (" in message
    assert "'count-2' (" in message
    assert line_of(__file__, "b = count(n=a.output)") in message


def test_task_after_itself_is_a_cycle() -> None:
    @pipeline
    def flow() -> None:
        a = count(n=1)
        a.after(a)

    with pytest.raises(CompileError, match=r"dependency cycle: 'count' .* -> 'count'"):
        flow.compile()


def test_longer_cycle_is_named() -> None:
    @pipeline
    def flow() -> None:
        a = count(n=1)
        b = count(n=a.output)
        c = count(n=b.output)
        count(n=5)  # not part of the cycle
        a.after(c)

    with pytest.raises(CompileError) as err:
        flow.compile()
    chain = re.findall(r"'(count(?:-\d)?)' \(", str(err.value))
    assert sorted(set(chain)) == ["count", "count-2", "count-3"]


# --- unknown / missing arguments ----------------------------------------------------------


def test_unknown_argument() -> None:
    @pipeline
    def flow() -> None:
        make(rows=1, colums=3)  # unknown-arg

    with pytest.raises(
        CompileError,
        match=rf"component 'make' called at {_at('# unknown-arg')}: unknown argument 'colums';"
        r" its inputs are: 'rows'",
    ):
        flow.compile()


def test_missing_required_argument() -> None:
    @pipeline
    def flow() -> None:
        fit()  # missing-arg

    with pytest.raises(
        CompileError,
        match=rf"component 'fit' called at {_at('# missing-arg')}: "
        r"missing required argument\(s\) 'data'",
    ):
        flow.compile()


def test_positional_arguments_inside_a_pipeline() -> None:
    @pipeline
    def flow() -> None:
        count(3)

    with pytest.raises(CompileError, match=r"component 'count'.*pass arguments by name"):
        flow.compile()


# --- wrong types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("3", "expected int, got str '3'"),
        (1.5, "expected int, got float 1.5"),
        (True, "expected int, got bool True"),
        (None, "None is not allowed for a int"),
    ],
)
def test_wrong_constant_type_for_a_parameter(value: Any, problem: str) -> None:
    @pipeline
    def flow() -> None:
        count(n=value)  # wrong-constant

    with pytest.raises(
        CompileError,
        match=rf"component 'count' called at {_at('# wrong-constant')}: argument 'n' "
        rf"has the wrong type: {re.escape(problem)}",
    ):
        flow.compile()


def test_wrong_pipeline_parameter_type() -> None:
    @pipeline
    def flow(name: str = "x") -> None:
        count(n=name)

    with pytest.raises(
        CompileError,
        match="argument 'n' expects int but got the pipeline parameter 'name' of type str",
    ):
        flow.compile()


def test_wrong_upstream_output_type() -> None:
    @pipeline
    def flow() -> None:
        count(n=label(text="a").output)

    with pytest.raises(
        CompileError,
        match="argument 'n' expects int but got the str output 'output' of task 'label'",
    ):
        flow.compile()


def test_float_output_into_int_parameter_is_refused() -> None:
    @component
    def half(n: int) -> float:
        return n / 2

    @pipeline
    def flow() -> None:
        count(n=half(n=3).output)

    with pytest.raises(CompileError, match="expects int but got the float output 'output'"):
        flow.compile()


# --- artifacts vs parameters ---------------------------------------------------------------


def test_artifact_passed_to_a_parameter() -> None:
    @pipeline
    def flow() -> None:
        m = make(rows=1)
        count(n=m.outputs["data"])  # artifact-to-param

    with pytest.raises(
        CompileError,
        match=rf"component 'count' called at {_at('# artifact-to-param')}: argument 'n' is a "
        r"parameter \(int\) but got the Dataset output 'data' of task 'make', an artifact",
    ):
        flow.compile()


def test_parameter_output_passed_to_an_artifact() -> None:
    @pipeline
    def flow() -> None:
        m = make(rows=1)
        anything(item=m.output)

    with pytest.raises(
        CompileError,
        match=r"argument 'item' expects an Input\[Artifact\] artifact but got the int output "
        r"'output' of task 'make', a parameter",
    ):
        flow.compile()


def test_constant_and_pipeline_parameter_passed_to_an_artifact() -> None:
    @pipeline
    def const() -> None:
        anything(item="/data/file.csv")

    with pytest.raises(CompileError, match=r"argument 'item' expects .* got the constant"):
        const.compile()

    @pipeline
    def param(uri: str = "s3://b/k") -> None:
        anything(item=uri)

    with pytest.raises(CompileError, match="got the pipeline parameter 'uri'"):
        param.compile()


def test_dataset_output_into_a_model_input() -> None:
    @pipeline
    def flow() -> None:
        m = make(rows=1)
        fit(data=m.outputs["data"])  # dataset-to-model

    with pytest.raises(
        CompileError,
        match=rf"component 'fit' called at {_at('# dataset-to-model')}: argument 'data' expects "
        r"Input\[Model\] but got the Dataset output 'data' of task 'make'; pass a Model "
        r"artifact, or change the annotation to Input\[Dataset\]",
    ):
        flow.compile()


def test_generic_artifact_input_accepts_any_kind() -> None:
    @pipeline
    def flow() -> None:
        anything(item=make(rows=1).outputs["data"])

    assert flow.compile().task("anything").dependencies == ["make"]


# --- defaults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "problem"),
    [
        ({1, 2}, "a set is not a JSON value"),
        (object(), "is not a JSON value"),
        (float("nan"), "finite"),
    ],
)
def test_non_json_component_default(default: Any, problem: str) -> None:
    with pytest.raises(
        ComponentError, match=r"component 'bad' \(test_bad_input.py:\d+\): argument 'x'"
    ) as err:

        @component
        def bad(x: Any = default) -> None:
            return None

    assert problem in str(err.value)


def test_component_default_of_the_wrong_type() -> None:
    with pytest.raises(
        ComponentError, match="argument 'x': the default 'ten' is unusable: expected int"
    ):

        @component
        def bad(x: int = "ten") -> None:  # type: ignore[assignment]
            return None


def test_non_json_pipeline_default() -> None:
    when = datetime.datetime(2024, 1, 1)
    with pytest.raises(
        PipelineDefinitionError,
        match=r"pipeline 'flow' \(test_bad_input.py:\d+\): parameter 'when': the default .* "
        r"is unusable: a datetime is not a JSON value",
    ):

        @pipeline
        def flow(when: Any = when) -> None:
            count(n=1)


# --- outputs given by the caller --------------------------------------------------------------


def test_output_artifact_given_a_value() -> None:
    @pipeline
    def flow() -> None:
        make(rows=1, data="/tmp/out.csv")  # output-given

    with pytest.raises(
        CompileError,
        match=rf"component 'make' called at {_at('# output-given')}: argument 'data' is an "
        r"Output\[Dataset\] that the component writes; do not pass it",
    ):
        flow.compile()


# --- duplicate task names -----------------------------------------------------------------------


def test_duplicate_explicit_task_names() -> None:
    @pipeline
    def flow() -> None:
        count(n=1).set_name("step")  # first-name
        count(n=2).set_name("step")  # second-name

    with pytest.raises(
        CompileError,
        match=rf"duplicate task name 'step' at {_at('# second-name')}: already used by the task "
        rf"created at {_at('# first-name')}",
    ):
        flow.compile()


def test_explicit_name_taken_by_an_automatic_one() -> None:
    @pipeline
    def flow() -> None:
        count(n=1)
        count(n=2).set_name("count")

    with pytest.raises(CompileError, match="duplicate task name 'count'"):
        flow.compile()


def test_invalid_task_name() -> None:
    @pipeline
    def flow() -> None:
        count(n=1).set_name("Bad_Name")

    with pytest.raises(CompileError, match="task name 'Bad_Name' is not a valid name"):
        flow.compile()


def test_two_components_with_the_same_name() -> None:
    @component(name="shared")
    def one() -> None:
        return None

    @component(name="shared")
    def two() -> None:
        return None

    @pipeline
    def flow() -> None:
        one()
        two()

    with pytest.raises(CompileError, match="two different components are named 'shared'"):
        flow.compile()


# --- components without type hints, and other bad definitions ---------------------------------


def test_component_without_type_hints() -> None:
    with pytest.raises(
        ComponentError,
        match=r"component 'untyped' \(test_bad_input.py:\d+\): argument 'rows' has no type hint",
    ):

        @component
        def untyped(rows, data: Output[Dataset]) -> None:  # type: ignore[no-untyped-def]
            return None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(x: set) -> None: ...", "argument 'x': set is not a parameter type"),
        ("def f(x: int | str) -> None: ...", "argument 'x': int | str is not a parameter type"),
        ("def f(x: Dataset) -> None: ...", r"annotate artifacts as Input\[Dataset\]"),
        ("def f(x: Input[int]) -> None: ...", r"Input\[...\] takes an artifact class"),
        ("def f(x: Output[Model] = None) -> None: ...", "remove its default"),
        ("def f(x: Input[Model] = 3) -> None: ...", "can only default to None"),
        ("def f(*xs: int) -> None: ...", r"\*args, \*\*kwargs"),
        ("def f() -> Dataset: ...", "return value 'output' has type Dataset"),
        ("def f(output: Output[Model]) -> int: ...", "two outputs are called 'output'"),
        ("def f(x: 'Missing') -> None: ...", "cannot resolve its type hints"),
        ("async def f() -> None: ...", "async and generator functions"),
    ],
)
def test_bad_component_signatures(source: str, message: str) -> None:
    namespace: dict[str, Any] = {
        "Dataset": Dataset,
        "Input": Input,
        "Output": Output,
        "Model": Model,
    }
    # exec keeps each case small; the source lookup is not needed to fail at the signature.
    exec(compile(source, __file__, "exec"), namespace)
    with pytest.raises(ComponentError, match=message):
        component(namespace["f"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "Bad_Name"}, "component name 'Bad_Name' is not a valid name"),
        ({"packages": "numpy"}, "packages must be a list"),
        ({"packages": ["--index-url=http://evil"]}, "pip options"),
        ({"image": "python 3"}, "image must be an image reference"),
        ({"cache_version": 2}, "cache_version must be a non-empty string"),
    ],
)
def test_bad_component_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ComponentError, match=message):

        @component(**options)
        def fine(x: int) -> None:
            return None


def test_function_name_that_is_not_a_valid_component_name() -> None:
    with pytest.raises(ComponentError, match="pass a valid name"):

        @component
        def TrainModel() -> None:
            return None


def test_decorator_misuse() -> None:
    with pytest.raises(ComponentError, match="with keyword arguments"):
        component("train")  # type: ignore[call-overload]
    with pytest.raises(ComponentError, match="already a component"):
        component(count)  # type: ignore[arg-type]


def test_component_without_source_is_refused() -> None:
    namespace: dict[str, Any] = {}
    exec("def f(x: int) -> None: ...", namespace)  # no file behind it
    with pytest.raises(ComponentError, match="cannot read the source"):
        component(namespace["f"])


def test_pipeline_parameter_without_type_hint() -> None:
    with pytest.raises(PipelineDefinitionError, match="parameter 'rows' has no type hint"):

        @pipeline
        def flow(rows) -> None:  # type: ignore[no-untyped-def]
            return None

    with pytest.raises(PipelineDefinitionError, match="artifacts come from tasks"):

        @pipeline
        def flow2(data: Input[Dataset]) -> None:
            return None


# --- task settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"memory": "4 gigs"}, r"memory '4 gigs' is not a Kubernetes quantity"),
        ({"cpu": "two"}, r"cpu 'two' is not a Kubernetes quantity"),
        ({"memory": "512m"}, r"memory .512m. means milli-bytes"),
        ({"gpu": -1}, r"gpu must be a non-negative integer"),
        ({"accelerator": "nvidia h100"}, r"accelerator 'nvidia h100' is not a valid label"),
    ],
)
def test_bad_resources(settings: dict[str, Any], message: str) -> None:
    @pipeline
    def flow() -> None:
        count(n=1).set_resources(**settings)  # bad-resources

    with pytest.raises(
        ValidationError, match=rf"task 'count' \({_at('# bad-resources')}\): {message}"
    ):
        flow.compile()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_attempts": -1}, "max_attempts must be an integer >= 1 .* got -1"),
        ({"max_attempts": 0}, "max_attempts must be an integer >= 1"),
        ({"max_attempts": 2.5}, "max_attempts must be an integer"),
        ({"max_attempts": 2, "backoff": "-1s"}, "backoff '-1s' is not a duration"),
        ({"max_attempts": 2, "backoff": -3}, "backoff must be a non-negative duration"),
        ({"max_attempts": 2, "factor": 0.5}, "factor must be a number >= 1"),
        ({"max_attempts": 2, "backoff": "1m", "max_backoff": "10s"}, "max_backoff .* shorter"),
    ],
)
def test_bad_retry(settings: dict[str, Any], message: str) -> None:
    @pipeline
    def flow() -> None:
        count(n=1).set_retry(**settings)  # bad-retry

    with pytest.raises(ValidationError, match=rf"task 'count' \({_at('# bad-retry')}\): {message}"):
        flow.compile()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.set_timeout("forever"), "timeout 'forever' is not a duration"),
        (lambda t: t.set_timeout(0), "timeout must be positive"),
        (lambda t: t.set_env({"1BAD": "x"}), "'1BAD' is not a variable name"),
        (lambda t: t.set_env(A=["x"]), "A must be a string"),
        (lambda t: t.set_caching("no"), "caching must be True or False"),
        (lambda t: t.set_image(""), "image must be an image reference"),
        (lambda t: t.set_kubernetes(tolerations=[{"operator": "Sometimes"}]), "toleration"),
        (lambda t: t.set_kubernetes(node_selector={"zone": "a b"}), "node_selector"),
        (lambda t: t.after("count"), r"\.after\(\) takes tasks"),
    ],
)
def test_bad_task_settings(call: Any, message: str) -> None:
    @pipeline
    def flow() -> None:
        call(count(n=1))

    with pytest.raises(ValidationError, match=message):
        flow.compile()


# --- wiring mistakes ------------------------------------------------------------------------------


def test_unknown_output_name() -> None:
    @pipeline
    def flow() -> None:
        m = make(rows=1)
        fit(data=m.outputs["model"])  # unknown-output

    with pytest.raises(
        CompileError,
        match=rf"task 'make' \({_at('# unknown-output')}\): component 'make' has no output "
        r"'model'; its outputs: 'data', 'output'",
    ):
        flow.compile()


def test_passing_the_task_itself() -> None:
    @pipeline
    def flow() -> None:
        c = count(n=1)
        count(n=c)

    with pytest.raises(CompileError, match=r"got the task 'count' itself; pass count\.output"):
        flow.compile()


def test_placeholders_nested_in_constants() -> None:
    @pipeline
    def flow(n: int = 1) -> None:
        @component
        def total(xs: list[int]) -> int:
            return sum(xs)

        total(xs=[n, 2])

    with pytest.raises(CompileError, match="cannot be nested inside a list or dict"):
        flow.compile()


def test_placeholders_have_no_value_at_compile_time() -> None:
    @pipeline
    def branch(n: int = 1) -> None:
        if n:  # branch-on-param
            count(n=1)

    with pytest.raises(
        CompileError,
        match=rf"pipeline parameter 'n' has no value while the pipeline is compiled "
        rf"\({_at('# branch-on-param')}\)",
    ):
        branch.compile()

    @pipeline
    def fmt() -> None:
        label(text=f"{count(n=1).output}")

    with pytest.raises(CompileError, match="output 'output' of task 'count' has no value"):
        fmt.compile()


def test_tasks_from_another_pipeline() -> None:
    leaked: list[Any] = []

    @pipeline
    def first() -> None:
        leaked.append(count(n=1))

    @pipeline
    def second() -> None:
        count(n=leaked[0].output)

    first.compile()
    with pytest.raises(CompileError, match="another pipeline \\('first'\\)"):
        second.compile()


def test_an_exception_in_the_pipeline_body_is_wrapped() -> None:
    @pipeline
    def flow() -> None:
        count(n=1)
        {}["missing"]  # raises-here

    with pytest.raises(
        CompileError,
        match=rf"pipeline 'flow' failed while compiling \({_at('# raises-here')}\): KeyError",
    ) as err:
        flow.compile()
    assert isinstance(err.value.__cause__, KeyError)


def test_a_pipeline_without_tasks() -> None:
    @pipeline
    def empty() -> None:
        return None

    with pytest.raises(CompileError, match="creates no tasks"):
        empty.compile()


def test_all_errors_are_runner_errors() -> None:
    for cls in (CompileError, ComponentError, PipelineDefinitionError, ValidationError):
        assert issubclass(cls, RunnerError)
