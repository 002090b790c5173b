"""Parameter types in pipeline code: which Python hints are JSON parameters, and
which Python values fit them.

A parameter is a JSON value (None, bool, int, float, str, list, dict) that
rides inline in the spec and in events; which JSON kinds each type takes is
the one table in :mod:`runner.spec.params`. Checks here return a description
of the problem (or ``None``) so each caller can raise its own error with its
own context (component, argument, file and line).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from runner.spec import ParameterType
from runner.spec.params import accepts, coerce, json_problem

__all__ = [
    "ParamType",
    "assignable",
    "describe",
    "normalize",
    "parameter_type",
    "value_problem",
]

_SCALARS: dict[Any, ParameterType] = {
    int: ParameterType.INT,
    float: ParameterType.FLOAT,
    str: ParameterType.STR,
    bool: ParameterType.BOOL,
    list: ParameterType.LIST,
    dict: ParameterType.DICT,
    Any: ParameterType.ANY,
}


class ParamType(typing.NamedTuple):
    """A parameter's JSON type and whether ``None`` is allowed (``X | None``)."""

    type: ParameterType
    nullable: bool = False


def parameter_type(hint: Any) -> ParamType | None:
    """The parameter type of a hint, or ``None`` if it is not a JSON parameter type.

    ``int``, ``float``, ``str``, ``bool``, ``list[...]``, ``dict[...]``, ``Any``
    and any of them ``| None``.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) != 1:
            return None
        inner = parameter_type(members[0])
        return None if inner is None else ParamType(inner.type, nullable=True)
    base = origin if origin in (list, dict) else hint
    try:
        found = _SCALARS.get(base)
    except TypeError:  # unhashable hint objects are simply not parameters
        return None
    if found is None:
        return None
    return ParamType(found, nullable=found is ParameterType.ANY)


def describe(ptype: ParamType) -> str:
    nullable = ptype.nullable and ptype.type is not ParameterType.ANY
    return f"{ptype.type.value} | None" if nullable else ptype.type.value


def normalize(value: Any, ptype: ParamType | None = None) -> Any:
    """A checked JSON value in canonical form: tuples become lists, and an int
    given for a ``float`` parameter becomes a float."""
    if ptype is not None:
        value = coerce(ptype.type, value)
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items()}
    return value


def value_problem(value: Any, ptype: ParamType) -> str | None:
    """Why ``value`` does not fit ``ptype``, or ``None`` if it does."""
    if value is None:
        return None if ptype.nullable else f"None is not allowed for a {describe(ptype)}"
    if not accepts(ptype.type, value):
        return f"expected {describe(ptype)}, got {type(value).__name__} {_short(value)}"
    return json_problem(value)


def assignable(source: ParameterType, target: ParameterType) -> bool:
    """Whether a value of type ``source`` may be passed where ``target`` is expected."""
    if ParameterType.ANY in (source, target) or source == target:
        return True
    return source is ParameterType.INT and target is ParameterType.FLOAT


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
