"""Pipeline parameters: the one table of parameter types, and the checks built on it.

A parameter is a JSON value (None, bool, int, float, str, list, dict).
:data:`PARAMETER_KINDS` says which JSON kind each declared
:class:`~runner.spec.models.ParameterType` takes (``any`` takes every kind);
:func:`accepts` adds the two rules a kind alone does not say: an ``int``
takes only whole numbers written without a fraction (``3``, not ``3.0``), and
``true`` is a bool, never a number. Everyone who checks a parameter value
reads this table: the DSL (defaults, constants, loop items), the controller
(a run's parameters, :func:`check_run_parameters`), the CLI (``-p`` text is
parsed per type, then checked here) and triggers (rendered templates).

Names are checked here too: :func:`unknown_parameters` and
:func:`missing_parameters` find them, :func:`no_such_parameter` is the message
for a name a pipeline does not declare and :func:`check_known_parameters`
raises it (what ``runner.api.submit`` needs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from runner.errors import PipelineDefinitionError
from runner.spec.models import ParameterDecl, ParameterType, PipelineSpec

__all__ = [
    "PARAMETER_KINDS",
    "JsonKind",
    "accepts",
    "check_known_parameters",
    "check_run_parameters",
    "coerce",
    "describe_parameters",
    "fits",
    "json_kind",
    "json_problem",
    "missing_parameters",
    "no_such_parameter",
    "unknown_parameters",
]

JsonKind = Literal["null", "bool", "number", "str", "list", "dict"]

PARAMETER_KINDS: Mapping[ParameterType, JsonKind | Literal["any"]] = MappingProxyType(
    {
        ParameterType.INT: "number",  # whole numbers only: see accepts
        ParameterType.FLOAT: "number",
        ParameterType.STR: "str",
        ParameterType.BOOL: "bool",
        ParameterType.LIST: "list",
        ParameterType.DICT: "dict",
        ParameterType.ANY: "any",
    }
)
"""The JSON kind a value of each declared parameter type has (``any``: every kind)."""


def _kind(value: object) -> JsonKind | None:
    if value is None:
        return "null"
    if isinstance(value, bool):  # bool is an int subclass in Python but not a JSON number
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):  # a tuple in pipeline code is a JSON list
        return "list"
    return "dict" if isinstance(value, dict) else None


def json_kind(value: object) -> JsonKind:
    """The JSON kind of a JSON value: null, bool, number, str, list (a tuple too) or dict.

    Raises TypeError for a value JSON has no kind for (check with :func:`json_problem`).
    """
    kind = _kind(value)
    if kind is None:
        raise TypeError(f"a {type(value).__name__} is not a JSON value")
    return kind


def accepts(ptype: ParameterType, value: object) -> bool:
    """Whether ``value``'s JSON kind is the one a ``ptype`` parameter takes.

    Only the kind at the top is checked; whether the value is JSON all the way
    down (finite numbers, string keys) is :func:`json_problem`'s question.
    """
    wanted = PARAMETER_KINDS[ptype]
    if wanted == "any":
        return True
    if _kind(value) != wanted:
        return False
    return ptype is not ParameterType.INT or isinstance(value, int)


def fits(decl: ParameterDecl, value: object) -> bool:
    """Whether a run may pass ``value`` for ``decl``: a value of its type, or
    ``None`` where the declared default is ``None`` (``x: int | None = None``)."""
    if value is None and decl.optional and decl.default is None:
        return True
    return accepts(decl.type, value)


def coerce(ptype: ParameterType, value: Any) -> Any:
    """A checked value in the form runs see: an int given for a ``float`` becomes a
    float (1 and 1.0 mean the same float parameter, and get one cache key)."""
    if ptype is ParameterType.FLOAT and type(value) is int:
        try:
            return float(value)
        except OverflowError:  # beyond any float: left as the int it is
            return value
    return value


def json_problem(value: Any, at: str = "") -> str | None:
    """Why ``value`` is not a JSON value, or ``None`` if it is one."""
    where = f" at {at}" if at else ""
    if value is None or isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r}{where} is not a finite number"
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            problem = json_problem(item, f"{at}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"the dict key {key!r}{where} is not a string"
            problem = json_problem(item, f"{at}[{key!r}]")
            if problem:
                return problem
        return None
    return f"a {type(value).__name__}{where} is not a JSON value"


def unknown_parameters(declared: Iterable[ParameterDecl], names: Iterable[str]) -> list[str]:
    """The names, in the order given, that ``declared`` does not declare."""
    known = {decl.name for decl in declared}
    return [name for name in names if name not in known]


def missing_parameters(
    declared: Iterable[ParameterDecl], names: Iterable[str]
) -> list[ParameterDecl]:
    """The required declarations, in declaration order, that ``names`` does not give."""
    given = set(names)
    return [decl for decl in declared if not decl.optional and decl.name not in given]


def describe_parameters(declared: Iterable[ParameterDecl]) -> str:
    """``n (int, default 10), lr (float, required)`` — or ``none``."""
    parts = []
    for p in declared:
        default = f"default {json.dumps(p.default)}" if p.optional else "required"
        parts.append(f"{p.name} ({p.type.value}, {default})")
    return ", ".join(parts) or "none"


def no_such_parameter(pipeline: str, declared: Iterable[ParameterDecl], name: str) -> str:
    """The message for a parameter ``name`` that pipeline ``pipeline`` does not declare."""
    return (
        f"pipeline '{pipeline}' has no parameter {name!r}; its parameters: "
        f"{describe_parameters(declared)}"
    )


def check_known_parameters(spec: PipelineSpec, names: Iterable[str]) -> None:
    """Raise :class:`PipelineDefinitionError` naming the first (sorted) of ``names``
    that ``spec`` does not declare; types and required ones are left to the run."""
    unknown = sorted(unknown_parameters(spec.parameters, names))
    if unknown:
        raise PipelineDefinitionError(no_such_parameter(spec.name, spec.parameters, unknown[0]))


def check_run_parameters(
    declared: Mapping[str, ParameterDecl], given: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """A run's parameters checked against their declarations (by name).

    Returns the values with defaults applied and ints for floats made floats,
    and every problem found (unknown names, required ones not given, values of
    the wrong type or not JSON), each a sentence naming the parameter and the fix.
    """
    names = ", ".join(declared) or "none"
    problems = [
        f"unknown parameter {name!r} (declared: {names}); remove it or fix its name"
        for name in unknown_parameters(declared.values(), given)
    ]
    values: dict[str, Any] = {}
    for name, decl in declared.items():
        if name in given:
            problem = _value_problem(decl, given[name])
            if problem:
                problems.append(problem)
            else:
                values[name] = coerce(decl.type, given[name])
        elif decl.optional:
            values[name] = decl.default
        else:
            problems.append(
                f"parameter {name!r} ({decl.type.value}) is required; pass a value for it"
            )
    return values, problems


def _value_problem(decl: ParameterDecl, value: Any) -> str | None:
    if not fits(decl, value):
        return (
            f"parameter {decl.name!r} expects {decl.type.value} but got "
            f"{type(value).__name__} {value!r:.60}; pass a {decl.type.value}"
        )
    problem = json_problem(value)
    if problem is not None:
        return (
            f"parameter {decl.name!r} is not a JSON value ({problem}); pass one with finite "
            "numbers and string keys only"
        )
    return None
