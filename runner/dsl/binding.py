"""Checking the arguments of a component call inside a pipeline.

Each argument becomes a binding: a constant, a pipeline parameter, an
upstream task's output, a loop item, a ``Collected`` list or a ``OneOf``.
Every mistake is reported where the call is, naming the component and the
argument: unknown or missing arguments, values of the wrong type, artifacts
passed to parameters (and the reverse), artifacts of the wrong kind, values
given to ``Output[...]`` arguments, and values read across loops wrongly (an
iteration's output outside its loop without ``Collected``, a ``Collected`` in
the wrong place, a loop item outside its loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.dsl.conditions import ConditionExpr as ConditionExprType
from runner.dsl.fanin import Collected, OneOf, is_placeholder
from runner.dsl.params import assignable, describe, normalize, value_problem
from runner.dsl.refs import LoopItem, PipelineParameter, TaskOutput
from runner.dsl.signature import Argument
from runner.dsl.task import PipelineTask
from runner.errors import CompileError
from runner.spec import ArtifactKind, ConstantInput, FinalStatusInput, IOKind, ParameterType

if TYPE_CHECKING:
    from runner.dsl.builder import PipelineBuilder
    from runner.dsl.component import ComponentDefinition

__all__ = ["Binding", "bind_arguments"]

Binding = (
    ConstantInput | PipelineParameter | TaskOutput | LoopItem | Collected | OneOf | FinalStatusInput
)


def bind_arguments(
    component: ComponentDefinition,
    kwargs: dict[str, Any],
    builder: PipelineBuilder,
    source: str,
) -> dict[str, Binding]:
    """Check a call's keyword arguments and turn them into bindings."""
    what = f"component '{component.name}' called at {source}"
    signature = component.signature
    inputs = [a.name for a in signature.arguments if not a.is_output]
    bindings: dict[str, Binding] = {}
    for name, value in kwargs.items():
        arg = signature.argument(name)
        if arg is None:
            raise CompileError(
                f"{what}: unknown argument '{name}'; its inputs are: {_listing(inputs)}"
            )
        if arg.is_output:
            raise CompileError(
                f"{what}: argument '{name}' is an {arg.describe()} that the component "
                f"writes; do not pass it — use task.outputs['{name}'] downstream"
            )
        if arg.final_status:
            raise CompileError(
                f"{what}: argument '{name}' is a PipelineTaskFinalStatus, filled in by the "
                "runner for an ExitHandler's exit task; do not pass it"
            )
        if value is None and arg.artifact is not None and arg.optional:
            continue  # an optional input artifact explicitly left out
        bindings[name] = _bind(arg, value, builder, f"{what}: argument '{name}'")
    missing = [
        a.name
        for a in signature.arguments
        if not a.is_output and not a.optional and not a.final_status and a.name not in kwargs
    ]
    if missing:
        raise CompileError(f"{what}: missing required argument(s) {_listing(missing)}")
    return bindings


def _bind(arg: Argument, value: Any, builder: PipelineBuilder, what: str) -> Binding:
    if isinstance(value, PipelineTask):
        raise CompileError(
            f"{what} got the task '{value.name}' itself; pass {value.name}.output or "
            f"{value.name}.outputs['...'] (or use .after() to only order tasks)"
        )
    if isinstance(value, TaskOutput):
        _check_same_pipeline(value.task.builder, builder, what)
        builder.check_visible(value, what)
        _check_output(arg, value, what)
        return value
    if isinstance(value, LoopItem | Collected | OneOf):
        return _bind_flow(arg, value, builder, what)
    if isinstance(value, PipelineParameter):
        _check_same_pipeline(value.builder, builder, what)
        _check_parameter(arg, value, what)
        return value
    if isinstance(value, ConditionExprType):
        raise CompileError(
            f"{what} got a condition ({value}); conditions go to `with If(...)`, not to arguments"
        )
    if arg.artifact is not None:
        raise CompileError(
            f"{what} expects an {arg.describe()} artifact but got the constant {value!r}; "
            "pass an artifact output of an upstream task, e.g. task.outputs['data']"
        )
    assert arg.param is not None
    if _contains_placeholder(value):
        raise CompileError(
            f"{what}: task outputs and pipeline parameters cannot be nested inside a "
            "list or dict; pass them as separate arguments"
        )
    problem = value_problem(value, arg.param)
    if problem is not None:
        raise CompileError(f"{what} has the wrong type: {problem}")
    return ConstantInput(value=normalize(value, arg.param))


def _bind_flow(
    arg: Argument, value: LoopItem | Collected | OneOf, builder: PipelineBuilder, what: str
) -> Binding:
    if isinstance(value, LoopItem):
        loop = value._loop
        _check_same_pipeline(loop.builder or builder, builder, what)
        if loop not in builder.loop_stack():
            raise CompileError(
                f"{what} gets {value._what()} outside that loop; use it inside its "
                f"`with ParallelFor(...)` block"
            )
        _check_parameter_like(arg, value._type().type, value._what(), what)
        return value
    if isinstance(value, Collected):
        _check_same_pipeline(value.task.builder, builder, what)
        value.check_scope(builder, what)
        _check_collected(arg, value, what)
        return value
    for option in value.options:
        _check_same_pipeline(option.task.builder, builder, what)
        builder.check_visible(option, what)
        _check_output(arg, option, what)
    return value


def _check_parameter_like(arg: Argument, ptype: ParameterType, shown: str, what: str) -> None:
    if arg.artifact is not None:
        raise CompileError(
            f"{what} expects an {arg.describe()} artifact but got {shown}, a value; "
            "artifacts come from task outputs"
        )
    assert arg.param is not None
    if not assignable(ptype, arg.param.type):
        raise CompileError(f"{what} expects {describe(arg.param)} but got {shown} ({ptype.value})")


def _check_collected(arg: Argument, value: Collected, what: str) -> None:
    decl = value.output.decl
    shown = f"Collected({value.output.describe()})"
    if decl.kind is IOKind.PARAMETER:
        _check_parameter_like(arg, ParameterType.LIST, shown, what)
        return
    if arg.artifact is None or not arg.is_list:
        raise CompileError(
            f"{what} gets {shown}, a list of artifacts; declare the argument as "
            f"Input[list[{decl.artifact_kind}]]"
        )
    accepted = arg.artifact.kind
    if accepted is not ArtifactKind.ARTIFACT and decl.artifact_kind != accepted:
        raise CompileError(
            f"{what} expects {arg.describe()} but got {shown}; collect {accepted.value} "
            f"artifacts or annotate Input[list[{decl.artifact_kind}]]"
        )


def _check_output(arg: Argument, output: TaskOutput, what: str) -> None:
    decl = output.decl
    if arg.is_list:
        raise CompileError(
            f"{what} is an {arg.describe()}: pass Collected({output.task.name}.outputs"
            f"['{output.name}']) after the ParallelFor that makes it; got {output.describe()}"
        )
    if decl.kind is IOKind.ARTIFACT and arg.artifact is None:
        raise CompileError(
            f"{what} is a parameter ({arg.describe()}) but got {output.describe()}, an "
            f"artifact; declare it as Input[{decl.artifact_kind}] or pass a parameter"
        )
    if decl.kind is IOKind.PARAMETER and arg.artifact is not None:
        raise CompileError(
            f"{what} expects an {arg.describe()} artifact but got {output.describe()}, "
            "a parameter; pass an artifact output, or declare the argument as a parameter"
        )
    if arg.artifact is not None:
        accepted = arg.artifact.kind
        if accepted is not ArtifactKind.ARTIFACT and decl.artifact_kind != accepted:
            raise CompileError(
                f"{what} expects {arg.describe()} but got {output.describe()}; pass a "
                f"{accepted.value} artifact, or change the annotation to "
                f"Input[{decl.artifact_kind}] (or Input[Artifact] to accept any kind)"
            )
    elif (
        arg.param is not None
        and decl.parameter_type is not None
        and not assignable(decl.parameter_type, arg.param.type)
    ):
        raise CompileError(f"{what} expects {describe(arg.param)} but got {output.describe()}")


def _check_parameter(arg: Argument, param: PipelineParameter, what: str) -> None:
    if arg.artifact is not None:
        raise CompileError(
            f"{what} expects an {arg.describe()} artifact but got the pipeline parameter "
            f"'{param.name}' ({describe(param.type)}); artifacts come from upstream tasks"
        )
    assert arg.param is not None
    if not assignable(param.type.type, arg.param.type):
        raise CompileError(
            f"{what} expects {describe(arg.param)} but got the pipeline parameter "
            f"'{param.name}' of type {describe(param.type)}"
        )


def _check_same_pipeline(owner: PipelineBuilder, builder: PipelineBuilder, what: str) -> None:
    if owner is not builder:
        raise CompileError(
            f"{what} refers to a task or parameter of another pipeline ('{owner.pipeline}'); "
            "tasks can only be wired inside the pipeline function that creates them"
        )


def _contains_placeholder(value: Any) -> bool:
    if is_placeholder(value):
        return True
    if isinstance(value, list | tuple):
        return any(_contains_placeholder(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_placeholder(item) for item in value.values())
    return False


def _listing(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names) if names else "(none)"
