"""Resolving values: a run's parameters at request time, a step's inputs at launch.

Both are pure lookups against the :class:`~runner.core.plan.Plan` and the run
state, a step's in its iteration's :class:`~runner.core.values.Frame`.
Problems are returned as values (never raised): invalid run parameters fail
the run, a missing upstream output fails the step, a ``OneOf`` none of whose
tasks ran skips it, and none of them may crash the controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.core import names
from runner.core.plan import BoundInput, Plan, TaskPlan
from runner.core.state import RunStatus
from runner.core.values import Frame
from runner.events.models import ArtifactRef, ErrorInfo
from runner.spec.bindings import CollectedInput, FinalStatusInput, OneOfInput, TaskOutputInput
from runner.spec.params import check_run_parameters


@dataclass(frozen=True, slots=True)
class ParameterResult:
    """Resolved run parameters (defaults applied), or the problems found."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def error(self, pipeline: str) -> ErrorInfo | None:
        if not self.problems:
            return None
        return ErrorInfo(
            reason="InvalidParameters",
            message=f"invalid parameters for pipeline {pipeline!r}: " + "; ".join(self.problems),
        )


def resolve_parameters(plan: Plan, given: Mapping[str, Any]) -> ParameterResult:
    """Check ``given`` against the plan's declarations and apply defaults
    (:func:`runner.spec.params.check_run_parameters`)."""
    values, problems = check_run_parameters(plan.parameters, given)
    return ParameterResult(values=values, problems=problems)


@dataclass(frozen=True, slots=True)
class StepInputs:
    """What a step is launched with, by input name."""

    parameters: dict[str, Any]
    artifacts: dict[str, ArtifactRef | list[ArtifactRef]]


@dataclass(frozen=True, slots=True)
class NoBranch:
    """A ``OneOf`` input none of whose tasks ran: the step is skipped, not failed."""

    message: str


def resolve_inputs(task: TaskPlan, frame: Frame) -> StepInputs | ErrorInfo | NoBranch:
    """Resolve ``task``'s inputs in ``frame`` (the step's iteration).

    Returns a ``MissingInput`` error when an upstream step did not produce the
    output a binding names. Cost: O(inputs of the task), plus one read per
    iteration for a ``Collected`` input.
    """
    parameters: dict[str, Any] = dict(task.defaults)
    artifacts: dict[str, ArtifactRef | list[ArtifactRef]] = {}
    for bound in task.inputs:
        value = _resolve(task, frame, bound)
        if isinstance(value, ErrorInfo | NoBranch):
            return value
        if value is _OMIT:
            continue
        if bound.artifact:
            artifacts[bound.name] = value
        else:
            parameters[bound.name] = value
    return StepInputs(parameters=parameters, artifacts=artifacts)


_OMIT: Any = object()
"""An optional artifact whose upstream did not run (``ignore_upstream_failure``): left out."""


def _resolve(task: TaskPlan, frame: Frame, bound: BoundInput) -> Any:
    binding = bound.binding
    if isinstance(binding, TaskOutputInput):
        return _upstream(task, frame, bound, binding)
    if isinstance(binding, CollectedInput):
        return collect(frame, binding, artifact=bound.artifact)
    if isinstance(binding, OneOfInput):
        return _one_of(frame, bound, binding)
    if isinstance(binding, FinalStatusInput):
        return final_status(frame)
    return frame.value(binding)


def _upstream(task: TaskPlan, frame: Frame, bound: BoundInput, binding: TaskOutputInput) -> Any:
    upstream = frame.state.steps[frame.step_of(binding.task)]
    if task.task.ignore_upstream_failure and not upstream.status.done:
        # The compiler requires a default here: the component's own applies.
        decl = task.component.input(bound.name)
        if decl is not None and decl.optional:
            return _OMIT if bound.artifact else decl.default
    return frame.output(
        binding.task, binding.output, what=f" input {bound.name!r}", artifact=bound.artifact
    )


def collect(frame: Frame, binding: CollectedInput, *, artifact: bool) -> Any:
    """The output of every iteration of ``binding.task`` that ran, in iteration order.

    Iterations where the task was skipped (its condition was false) or failed
    (seen only by an ``ignore_upstream_failure`` consumer) are left out.
    """
    producer = frame.plan.tasks[binding.task]
    assert producer.scope is not None  # checked by the plan
    loop = names.instance(producer.scope, frame.indexes)
    items = frame.state.loops[loop].items or []
    values: list[Any] = []
    for index in range(len(items)):
        step = names.instance(binding.task, (*frame.indexes, index))
        state = frame.state.steps.get(step)
        if state is None or not state.status.done:
            continue
        source: Mapping[str, Any] = state.outputs if artifact else state.parameters
        if binding.output not in source:
            return ErrorInfo(
                reason="MissingInput",
                message=(
                    f"step {frame.who!r} collects output {binding.output!r} of {step!r}, which "
                    f"did not produce it; make {binding.task!r} write or return it"
                ),
                step=frame.who,
            )
        values.append(source[binding.output])
    return values


def _one_of(frame: Frame, bound: BoundInput, binding: OneOfInput) -> Any:
    for option in binding.options:
        if frame.state.steps[frame.step_of(option.task)].status.done:
            return frame.output(
                option.task, option.output, what=f" input {bound.name!r}", artifact=bound.artifact
            )
    tasks = ", ".join(repr(o.task) for o in binding.options)
    return NoBranch(f"input {bound.name!r} is OneOf({tasks}) and none of them ran")


def final_status(frame: Frame) -> dict[str, Any]:
    """What an exit handler receives: how the tasks it guards ended (KFP's
    ``PipelineTaskFinalStatus``)."""
    state = frame.state
    error = state.steps[frame.who].guarded_error
    if state.status is RunStatus.CANCELLING:
        outcome = "CANCELLED"
    else:
        outcome = "FAILED" if error is not None else "SUCCEEDED"
    return {
        "state": outcome,
        "run_id": state.run_id,
        "pipeline": state.pipeline,
        "task": frame.who,
        "error_message": error.message if error else None,
        "error_reason": error.reason if error else None,
        "failed_step": error.step if error else None,
    }
