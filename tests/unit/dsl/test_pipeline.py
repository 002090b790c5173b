"""@pipeline and compilation: the DESIGN §3 example, tasks, ordering, settings."""

from __future__ import annotations

import threading
from typing import NamedTuple

import pytest

from runner import (
    Artifact,
    ContainerSpec,
    Dataset,
    Input,
    Metrics,
    Model,
    Output,
    PipelineDefinition,
    PipelineTask,
    compile_pipeline,
    component,
    container_component,
    pipeline,
)
from runner.dsl.builder import current_builder
from runner.errors import CompileError, PipelineDefinitionError
from runner.spec import (
    ConstantInput,
    ParameterDecl,
    ParameterType,
    PipelineParameterInput,
    PipelineSpec,
    Resources,
    RetryPolicy,
    TaskOutputInput,
    Toleration,
)
from tests.unit.dsl._helpers import line_of

# --- The DESIGN.md §3 example, verbatim -------------------------------------------------


@component(packages=["scikit-learn"], image="python:3.11-slim")
def prepare(rows: int, data: Output[Dataset]) -> int:
    ...  # write to data.path; data.metadata["rows"] = rows
    return rows


@component
def train(data: Input[Dataset], lr: float, model: Output[Model], metrics: Output[Metrics]) -> float:
    metrics.log_metric("accuracy", 0.93)
    return 0.93


@pipeline(name="iris")
def iris(rows: int = 150, lr: float = 0.1):  # type: ignore[no-untyped-def]
    p = prepare(rows=rows)
    t = train(data=p.outputs["data"], lr=lr)
    t.set_resources(cpu="2", memory="4Gi", gpu=1, accelerator="nvidia-h100")
    t.set_retry(max_attempts=3, backoff="10s", factor=2.0, max_backoff="5m")
    t.set_timeout("1h").set_env(OMP_NUM_THREADS="2")


# -----------------------------------------------------------------------------------------


class Stats(NamedTuple):
    mean: float
    count: int


@component
def load(n: int) -> int:
    return n


@component
def double(x: float) -> float:
    return 2 * x


@component
def stats(x: float, y: float = 0.0) -> Stats:
    return Stats((x + y) / 2, 2)


@component
def noop() -> None:
    return None


def test_design_example_compiles() -> None:
    assert isinstance(iris, PipelineDefinition)
    spec = iris.compile()
    assert spec.name == "iris"
    assert spec.parameters == [
        ParameterDecl(name="rows", type=ParameterType.INT, optional=True, default=150),
        ParameterDecl(name="lr", type=ParameterType.FLOAT, optional=True, default=0.1),
    ]
    assert list(spec.components) == ["prepare", "train"]
    assert spec.components["prepare"].packages == ["scikit-learn"]
    assert spec.components["prepare"].image == "python:3.11-slim"
    assert spec.components["train"].entrypoint == f"{__name__}:train"
    prep, tr = spec.tasks
    assert prep.name == "prepare"
    assert prep.dependencies == []
    assert prep.inputs == {"rows": PipelineParameterInput(parameter="rows")}
    assert tr.inputs == {
        "data": TaskOutputInput(task="prepare", output="data"),
        "lr": PipelineParameterInput(parameter="lr"),
    }
    assert tr.dependencies == ["prepare"]
    assert tr.resources == Resources(cpu="2", memory="4Gi", gpu=1, accelerator="nvidia-h100")
    assert tr.retry == RetryPolicy(
        max_attempts=3, backoff_seconds=10, factor=2.0, max_backoff_seconds=300
    )
    assert tr.timeout_seconds == 3600
    assert tr.env == {"OMP_NUM_THREADS": "2"}
    assert tr.source == line_of(__file__, "t = train(data=p.outputs")
    assert prep.source == line_of(__file__, "p = prepare(rows=rows)")


def test_compile_is_deterministic_and_json_round_trips() -> None:
    first, second = iris.compile(), compile_pipeline(iris)
    assert first == second
    assert first.digest() == second.digest()
    assert PipelineSpec.model_validate_json(first.model_dump_json()) == first
    assert "/" not in first.canonical_json().decode().replace("runner.dev/v1", "")


def test_pipeline_decorator_forms_and_description() -> None:
    @pipeline
    def my_flow(n: int) -> None:
        """Load and double.

        More words."""
        double(x=load(n=n).output)

    spec = my_flow.compile()
    assert my_flow.name == spec.name == "my-flow"
    assert spec.description == "Load and double.\n\nMore words."
    assert my_flow.parameters == (ParameterDecl(name="n", type=ParameterType.INT),)

    @pipeline(name="flow", description="explicit")
    def other() -> None:
        noop()

    assert other.compile().description == "explicit"


def test_compile_pipeline_accepts_a_plain_function() -> None:
    def plain_flow() -> None:
        noop()

    spec = compile_pipeline(plain_flow)
    assert spec.name == "plain-flow"
    assert [t.name for t in spec.tasks] == ["noop"]


def test_bindings_constants_parameters_and_outputs() -> None:
    @pipeline
    def flow(x: float = 1.5, flags: dict = {"a": 1}) -> None:  # type: ignore[type-arg]  # noqa: B006
        a = load(n=3)
        d = double(x=a.output)  # int output into a float input is fine
        s = stats(x=d.output, y=x)
        stats(x=s.outputs["mean"], y=s.outputs["count"])

    spec = flow.compile()
    assert spec.parameter("flags") == ParameterDecl(
        name="flags", type=ParameterType.DICT, optional=True, default={"a": 1}
    )
    assert [t.name for t in spec.tasks] == ["load", "double", "stats", "stats-2"]
    assert spec.task("load").inputs == {"n": ConstantInput(value=3)}
    assert spec.task("double").inputs == {"x": TaskOutputInput(task="load", output="output")}
    assert spec.task("stats").inputs == {
        "x": TaskOutputInput(task="double", output="output"),
        "y": PipelineParameterInput(parameter="x"),
    }
    assert spec.task("stats-2").inputs == {
        "x": TaskOutputInput(task="stats", output="mean"),
        "y": TaskOutputInput(task="stats", output="count"),
    }
    assert spec.task("stats-2").dependencies == ["stats"]


def test_constants_are_normalised() -> None:
    @pipeline
    def flow() -> None:
        double(x=2)

    assert flow.compile().task("double").inputs == {"x": ConstantInput(value=2.0)}


def test_task_names_are_unique_and_deterministic() -> None:
    @pipeline
    def flow() -> None:
        for _ in range(3):
            noop()
        noop().set_name("last")
        noop()

    names = [t.name for t in flow.compile().tasks]
    assert names == ["noop", "noop-2", "noop-3", "last", "noop-4"]
    assert [t.name for t in flow.compile().tasks] == names


def test_set_name_frees_the_old_name() -> None:
    @pipeline
    def flow() -> None:
        noop().set_name("first")
        noop()

    assert [t.name for t in flow.compile().tasks] == ["first", "noop"]


def test_topological_order_keeps_creation_order_among_ready_tasks() -> None:
    @pipeline
    def flow() -> None:
        a = load(n=1)
        b = noop()
        c = double(x=a.output)
        d = noop()
        b.after(d)  # b must now wait for d, created later
        c.after(b)

    spec = flow.compile()
    assert [t.name for t in spec.tasks] == ["load", "noop-2", "noop", "double"]
    assert spec.task("double").dependencies == ["load", "noop"]
    assert spec.task("noop").dependencies == ["noop-2"]


def test_fan_out_fan_in_order() -> None:
    @pipeline
    def flow(n: int = 4) -> None:
        src = load(n=n)
        branches = [double(x=src.output) for _ in range(3)]
        join = noop().after(*branches)
        assert isinstance(join, PipelineTask)

    spec = flow.compile()
    assert [t.name for t in spec.tasks] == ["load", "double", "double-2", "double-3", "noop"]
    assert spec.task("noop").dependencies == ["double", "double-2", "double-3"]


def test_task_settings() -> None:
    @pipeline
    def flow() -> None:
        t = noop()
        assert t.set_resources(cpu=0.5) is t
        t.set_resources(memory="512Mi").set_resources(gpu=2)
        t.set_retry(max_attempts=2)
        t.set_timeout(90).set_env({"A": "1"}, B=2).set_env(A="3")
        t.set_caching(False).set_image("python:3.12")
        t.set_kubernetes(
            node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        )

    task = flow.compile().tasks[0]
    assert task.resources == Resources(cpu="0.5", memory="512Mi", gpu=2)
    assert task.retry == RetryPolicy(max_attempts=2)
    assert task.timeout_seconds == 90
    assert task.env == {"A": "3", "B": "2"}
    assert task.caching is False
    assert task.image == "python:3.12"
    assert task.kubernetes.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert task.kubernetes.tolerations == [
        Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
    ]


def test_task_output_and_outputs() -> None:
    seen: dict[str, object] = {}

    @component
    def two(a: Output[Artifact]) -> int:
        return 1

    @component
    def only_artifact(a: Output[Artifact]) -> None:
        return None

    @pipeline
    def flow() -> None:
        t = two()
        seen["names"] = list(t.outputs)
        seen["len"] = len(t.outputs)
        seen["in"] = "a" in t.outputs and "zz" not in t.outputs
        seen["output"] = t.output.name
        seen["only"] = only_artifact().output.name
        seen["repr"] = repr(t.outputs["a"])

    flow.compile()
    assert seen == {
        "names": ["a", "output"],
        "len": 2,
        "in": True,
        "output": "output",
        "only": "a",
        "repr": "<TaskOutput two.a>",
    }


def test_output_is_ambiguous_without_a_single_output() -> None:
    @pipeline
    def flow() -> None:
        stats(x=1.0).output  # noqa: B018

    with pytest.raises(CompileError, match=r"'mean', 'count'.*task.outputs"):
        flow.compile()


def test_optional_artifact_inputs_may_be_left_out() -> None:
    @component
    def compare(model: Input[Model], baseline: Input[Model] | None = None) -> None:
        return None

    @pipeline
    def flow() -> None:
        t = train(data=prepare(rows=1).outputs["data"], lr=0.1)
        compare(model=t.outputs["model"])
        compare(model=t.outputs["model"], baseline=None)
        compare(model=t.outputs["model"], baseline=t.outputs["model"])

    spec = flow.compile()
    assert list(spec.task("compare").inputs) == ["model"]
    assert list(spec.task("compare-2").inputs) == ["model"]
    assert list(spec.task("compare-3").inputs) == ["model", "baseline"]


def test_container_components_in_pipelines() -> None:
    @container_component
    def shout(text: str, out: Output[Dataset]) -> ContainerSpec:
        return ContainerSpec(image="alpine", command=["sh", "-c"], args=["echo", text, out.path])

    @pipeline
    def flow(text: str = "hi") -> None:
        s = shout(text=text)
        train(data=s.outputs["out"], lr=0.1)

    spec = flow.compile()
    assert spec.components["shout"].kind == "container"
    assert spec.task("train").inputs["data"] == TaskOutputInput(task="shout", output="out")


def test_the_pipeline_is_held_in_a_contextvar() -> None:
    assert current_builder() is None
    seen: list[object] = []

    @pipeline
    def flow() -> None:
        seen.append(current_builder())
        noop()

    flow.compile()
    assert seen[0] is not None
    assert current_builder() is None

    @pipeline
    def failing() -> None:
        noop()
        raise CompileError("stop")

    with pytest.raises(CompileError):
        failing.compile()
    assert current_builder() is None


def test_concurrent_compiles_do_not_mix_tasks() -> None:
    barrier = threading.Barrier(2)

    @pipeline
    def slow_a() -> None:
        load(n=1)
        barrier.wait(timeout=10)
        load(n=2)

    @pipeline
    def slow_b() -> None:
        noop()
        barrier.wait(timeout=10)
        noop()

    results: dict[str, PipelineSpec] = {}
    threads = [
        threading.Thread(target=lambda p=p: results.__setitem__(p.name, p.compile()))
        for p in (slow_a, slow_b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert [t.name for t in results["slow-a"].tasks] == ["load", "load-2"]
    assert [t.name for t in results["slow-b"].tasks] == ["noop", "noop-2"]


def test_calling_a_pipeline_directly_is_an_error() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"iris\.compile\(\)"):
        iris(rows=3)


def test_a_component_calls_another_directly_at_run_time() -> None:
    @component
    def outer(n: int) -> float:
        return double(x=float(load(n=n)))

    assert outer(n=2) == 4.0
