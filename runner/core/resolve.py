"""Resolving values: a run's parameters at request time, a step's inputs at launch.

Both are pure lookups against the :class:`~runner.core.plan.Plan` and the run
state. Problems are returned as values (never raised): invalid run
parameters fail the run, a missing upstream output fails the step, and
neither may crash the controller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.core.plan import Plan, TaskPlan
from runner.core.state import StepState
from runner.events.models import ArtifactRef, ErrorInfo
from runner.spec.models import (
    ConstantInput,
    ParameterDecl,
    ParameterType,
    PipelineParameterInput,
    canonical_json,
)

_TYPE_CHECKS: dict[ParameterType, Callable[[Any], bool]] = {
    # bool is an int subclass in Python but not a JSON number.
    ParameterType.INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    ParameterType.FLOAT: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    ParameterType.STR: lambda v: isinstance(v, str),
    ParameterType.BOOL: lambda v: isinstance(v, bool),
    ParameterType.LIST: lambda v: isinstance(v, list),
    ParameterType.DICT: lambda v: isinstance(v, dict),
    ParameterType.ANY: lambda v: True,
}


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
    """Check ``given`` against the plan's declarations and apply defaults."""
    problems = [
        f"unknown parameter {name!r} (declared: {_declared(plan)}); remove it or fix its name"
        for name in given
        if name not in plan.parameters
    ]
    values: dict[str, Any] = {}
    for name, decl in plan.parameters.items():
        if name in given:
            problem = _check_value(decl, given[name])
            if problem:
                problems.append(problem)
            else:
                values[name] = _coerce(decl, given[name])
        elif decl.optional:
            values[name] = decl.default
        else:
            problems.append(
                f"parameter {name!r} ({decl.type.value}) is required; pass a value for it"
            )
    return ParameterResult(values=values, problems=problems)


def _declared(plan: Plan) -> str:
    return ", ".join(plan.parameters) or "none"


def _check_value(decl: ParameterDecl, value: Any) -> str | None:
    if value is None and decl.optional and decl.default is None:
        return None
    if not _TYPE_CHECKS[decl.type](value):
        return (
            f"parameter {decl.name!r} expects {decl.type.value} but got "
            f"{type(value).__name__} {value!r:.60}; pass a {decl.type.value}"
        )
    try:
        canonical_json(value)
    except (TypeError, ValueError):
        return f"parameter {decl.name!r} is not a JSON value (NaN or infinity?); pass a finite one"
    return None


def _coerce(decl: ParameterDecl, value: Any) -> Any:
    # 1 and 1.0 mean the same float parameter; give them one cache key.
    if decl.type is ParameterType.FLOAT and isinstance(value, int) and math.isfinite(value):
        return float(value)
    return value


@dataclass(frozen=True, slots=True)
class StepInputs:
    """What a step is launched with, by input name."""

    parameters: dict[str, Any]
    artifacts: dict[str, ArtifactRef]


def resolve_inputs(
    task: TaskPlan, run_parameters: Mapping[str, Any], steps: Mapping[str, StepState]
) -> StepInputs | ErrorInfo:
    """Resolve ``task``'s inputs from constants, run parameters and upstream outputs.

    Returns a ``MissingInput`` error when an upstream step did not produce the
    output a binding names. Cost: O(inputs of the task).
    """
    parameters: dict[str, Any] = dict(task.defaults)
    artifacts: dict[str, ArtifactRef] = {}
    for bound in task.inputs:
        binding = bound.binding
        if isinstance(binding, ConstantInput):
            parameters[bound.name] = binding.value
        elif isinstance(binding, PipelineParameterInput):
            parameters[bound.name] = run_parameters.get(binding.parameter)
        else:
            upstream = steps[binding.task]
            source: Mapping[str, Any] = upstream.outputs if bound.artifact else upstream.parameters
            if binding.output not in source:
                return _missing(task, bound.name, binding.task, binding.output, source)
            if bound.artifact:
                artifacts[bound.name] = source[binding.output]
            else:
                parameters[bound.name] = source[binding.output]
    return StepInputs(parameters=parameters, artifacts=artifacts)


def _missing(
    task: TaskPlan, name: str, upstream: str, output: str, produced: Mapping[str, Any]
) -> ErrorInfo:
    what = ", ".join(sorted(produced)) or "nothing"
    return ErrorInfo(
        reason="MissingInput",
        message=(
            f"step {task.name!r} input {name!r} needs output {output!r} of step {upstream!r}, "
            f"which did not produce it (it produced: {what}); make {upstream!r} write or "
            f"return {output!r}"
        ),
        step=task.name,
    )
