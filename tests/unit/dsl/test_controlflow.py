"""The compiler on control flow: If/Elif/Else, ParallelFor, Collected, OneOf, ExitHandler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner import (
    Collected,
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
from runner.core import Plan
from runner.dsl.conditions import ConditionExpr
from runner.spec import (
    AllOf,
    AnyOf,
    CollectedInput,
    Comparison,
    ConstantInput,
    FinalStatusInput,
    LoopItemInput,
    Not,
    OneOfInput,
    PipelineParameterInput,
    PipelineSpec,
    TaskOutputInput,
)


@component
def metric() -> float:
    return 0.9


@component
def grid(n: int = 3) -> list:
    return [{"lr": 0.1 * i} for i in range(n)]


@component
def train(lr: float, model: Output[Model]) -> float:
    return lr


@component
def pick(scores: list, models: Input[list[Model]]) -> float:
    return max(scores)


@component
def say(text: str) -> str:
    return text


@component
def notify(status: PipelineTaskFinalStatus, channel: str = "#ml") -> None:
    return None


def test_if_elif_else_compile_to_exclusive_conditions() -> None:
    @pipeline
    def branches(threshold: float = 0.5) -> None:
        m = metric()
        with If(m.output > 0.9):
            a = say(text="great")
        with Elif(m.output >= threshold):
            b = say(text="fine")
        with Else():
            c = say(text="bad")
        say(text=OneOf(a.output, b.output, c.output))

    spec = branches.compile()
    high = Comparison(op=">", left=TaskOutputInput(task="metric", output="output"),
                      right=ConstantInput(value=0.9))  # fmt: skip
    mid = Comparison(op=">=", left=TaskOutputInput(task="metric", output="output"),
                     right=PipelineParameterInput(parameter="threshold"))  # fmt: skip
    assert spec.task("say").condition == high
    assert spec.task("say-2").condition == AllOf(conditions=[Not(condition=high), mid])
    assert spec.task("say-3").condition == AllOf(
        conditions=[Not(condition=high), Not(condition=mid)]
    )
    assert [spec.task(n).dependencies for n in ("say", "say-2", "say-3")] == [["metric"]] * 3
    last = spec.task("say-4")
    assert last.condition is None
    assert last.inputs["text"] == OneOfInput(
        options=[TaskOutputInput(task=n, output="output") for n in ("say", "say-2", "say-3")]
    )
    assert last.dependencies == ["say", "say-2", "say-3"]
    plan = Plan.from_spec(spec)
    assert plan.tasks["say-4"].soft_parents == {"say", "say-2", "say-3"}


def test_nested_ifs_and_combined_conditions_conjoin() -> None:
    @pipeline
    def nested(env: str = "dev") -> None:
        m = metric()
        with If((m.output > 0.5) & ((env == "prod") | (env == "staging"))), If(m.output < 2):
            say(text="x")

    spec = nested.compile()
    condition = spec.task("say").condition
    assert isinstance(condition, AllOf)
    assert len(condition.conditions) == 3
    assert isinstance(condition.conditions[1], AnyOf)


def test_not_negates_and_reversed_comparisons_read_naturally() -> None:
    built: list[ConditionExpr] = []

    @pipeline
    def holder() -> None:
        m = metric()
        built.extend([~(m.output > 1), m.output > 0.5])
        say(text="x")

    holder.compile()
    negated, reversed_ = built
    assert isinstance(negated.condition, Not)
    assert str(reversed_) == "metric.outputs['output'] > 0.5"


def test_parallel_for_over_an_upstream_list_with_collected_fan_in() -> None:
    @pipeline
    def sweep(n: int = 3) -> None:
        g = grid(n=n)
        with ParallelFor(g.output, parallelism=2) as item:
            t = train(lr=item.lr)
        pick(scores=Collected(t.output), models=Collected(t.outputs["model"]))

    spec = sweep.compile()
    (loop,) = spec.loops
    assert loop.name == "for-loop-1"
    assert loop.items == TaskOutputInput(task="grid", output="output")
    assert (loop.parallelism, loop.dependencies, loop.loop) == (2, ["grid"], None)
    fit = spec.task("train")
    assert fit.loop == "for-loop-1"
    assert fit.inputs["lr"] == LoopItemInput(loop="for-loop-1", path=["lr"])
    assert fit.dependencies == []
    fan_in = spec.task("pick")
    assert fan_in.inputs == {
        "scores": CollectedInput(task="train", output="output"),
        "models": CollectedInput(task="train", output="model"),
    }
    assert fan_in.dependencies == ["train"]
    assert [t.name for t in spec.tasks] == ["grid", "train", "pick"]
    assert spec.components["pick"].input("models").is_list  # type: ignore[union-attr]
    assert PipelineSpec.model_validate_json(spec.canonical_json()) == spec


def test_nested_loops_and_constant_items() -> None:
    @pipeline
    def nested() -> None:
        with ParallelFor([{"lrs": [0.1, 0.2]}, {"lrs": [0.3]}]) as outer:
            with ParallelFor(outer.lrs) as lr:
                t = train(lr=lr)
            say(text="done").after(t)

    spec = nested.compile()
    outer, inner = spec.loops
    assert outer.items == ConstantInput(value=[{"lrs": [0.1, 0.2]}, {"lrs": [0.3]}])
    assert inner.loop == outer.name
    assert inner.items == LoopItemInput(loop=outer.name, path=["lrs"])
    assert spec.task("train").loop == inner.name
    assert spec.task("say").loop == outer.name
    plan = Plan.from_spec(spec)
    assert plan.tasks["say"].parents == (inner.name,)


def test_a_condition_on_the_item_and_an_if_around_a_loop() -> None:
    @pipeline
    def gated(run_sweep: bool = True) -> None:
        with If(run_sweep == True), ParallelFor([1, 2, 3]) as x, If(x != 2):  # noqa: E712
            say(text="odd")

    spec = gated.compile()
    (loop,) = spec.loops
    assert loop.condition == Comparison(
        op="==", left=PipelineParameterInput(parameter="run_sweep"), right=ConstantInput(value=True)
    )
    inner = spec.task("say").condition
    assert inner == Comparison(
        op="!=", left=LoopItemInput(loop=loop.name, path=[]), right=ConstantInput(value=2)
    )


def test_exit_handler_guards_the_block_and_gets_the_final_status() -> None:
    @pipeline
    def guarded() -> None:
        bye = notify(channel="#alerts")
        with ExitHandler(bye):
            m = metric()
            with ParallelFor([1, 2]):
                say(text="x").after(m)

    spec = guarded.compile()
    handler = spec.task("notify")
    assert handler.exit_handler
    assert handler.inputs["status"] == FinalStatusInput()
    assert handler.dependencies == ["metric", "say"]
    assert [t.name for t in spec.tasks][-1] == "notify"
    plan = Plan.from_spec(spec)
    assert plan.tasks["notify"].parents == ("metric", "for-loop-1")
    assert plan.tasks["notify"].soft_parents == {"metric", "for-loop-1"}


def test_ignore_upstream_failure_is_recorded() -> None:
    @pipeline
    def cleanup() -> None:
        m = metric()
        say(text="clean").after(m).ignore_upstream_failure()

    assert cleanup.compile().task("say").ignore_upstream_failure


def test_pipelines_without_control_flow_keep_their_json() -> None:
    @pipeline
    def plain() -> None:
        say(text="hi")

    dumped = plain.compile().model_dump(mode="json")
    assert "loops" not in dumped
    assert not {"loop", "condition", "exit_handler", "ignore_upstream_failure"} & set(
        dumped["tasks"][0]
    )
    assert "is_list" not in dumped["components"]["say"]["inputs"][0]


def test_final_status_reaches_the_function_as_an_object() -> None:
    seen: list[PipelineTaskFinalStatus] = []

    @component
    def keep(status: PipelineTaskFinalStatus) -> str:
        seen.append(status)
        return status.state

    status = PipelineTaskFinalStatus(state="FAILED", run_id="r", pipeline="p", task="keep")
    assert keep(status=status) == "FAILED"
    from runner.dsl.invoke import call_component

    values = call_component(keep, {"status": status.to_json()}, {})
    assert values == {"output": "FAILED"}
    assert seen[-1] == status


def test_a_list_of_artifacts_reaches_the_function(tmp_path: Any) -> None:
    paths = []
    for i in range(2):
        path = tmp_path / f"m{i}"
        path.write_text(str(i))
        paths.append(path)

    @component
    def count_models(models: Input[list[Model]]) -> int:
        return sum(int(Path(m.path).read_text()) + 1 for m in models)

    assert count_models(models=paths) == 3
    assert count_models(models=[Model(path=str(p)) for p in paths]) == 3
