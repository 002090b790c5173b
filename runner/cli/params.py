"""``-p NAME=VALUE``: pipeline parameters from the command line, typed by the spec.

A value is parsed by its parameter's declared type: ``int``, ``float``,
``bool`` (true/false, 1/0, yes/no, on/off), ``str`` (as is), ``list`` and
``dict`` (JSON), ``any`` (JSON if it parses, else the text). Every mistake is
a :class:`~runner.errors.ValidationError` that names the parameter, what was
expected and what was given. The text is parsed here; which JSON kinds each
type takes, and the messages for unknown names, are :mod:`runner.spec.params`'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from runner.errors import ValidationError
from runner.spec.models import ParameterDecl, ParameterType, PipelineSpec
from runner.spec.params import (
    accepts,
    json_kind,
    missing_parameters,
    no_such_parameter,
)
from runner.spec.params import describe_parameters as describe_parameters_of

__all__ = ["describe_parameters", "parse_params", "parse_value", "split_assignment"]

_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_EXAMPLES = {
    ParameterType.INT: "10",
    ParameterType.FLOAT: "0.1",
    ParameterType.BOOL: "true",
    ParameterType.STR: "text",
    ParameterType.LIST: "'[1, 2]'",
    ParameterType.DICT: """'{"k": 1}'""",
    ParameterType.ANY: "'[1, 2]'",
}


def parse_params(spec: PipelineSpec, items: Iterable[str]) -> dict[str, Any]:
    """``["n=3", "lr=0.1"]`` -> ``{"n": 3, "lr": 0.1}``; checks names and required ones."""
    values: dict[str, Any] = {}
    example = f"{spec.parameters[0].name if spec.parameters else 'name'}=VALUE"
    for item in items:
        name, text = split_assignment(item, "-p", example)
        decl = spec.parameter(name)
        if decl is None:
            raise ValidationError(no_such_parameter(spec.name, spec.parameters, name))
        values[name] = parse_value(decl, text)  # a repeated -p wins over the earlier one
    missing = missing_parameters(spec.parameters, values)
    if missing:
        first = missing[0]
        raise ValidationError(
            f"pipeline '{spec.name}' needs parameter {first.name!r} ({first.type.value}): "
            f"pass -p {first.name}={_EXAMPLES[first.type]}"
        )
    return values


def split_assignment(item: str, flag: str, example: str) -> tuple[str, str]:
    """``NAME=VALUE`` as (name, text): the name stripped, the text as given; a
    ValidationError naming ``flag`` and showing ``example`` when it is not one."""
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValidationError(f"{flag} {item!r} is not NAME=VALUE: write e.g. {flag} {example}")
    return name, text


def parse_value(decl: ParameterDecl, text: str) -> Any:
    """``text`` as a value of ``decl``'s type, or a ValidationError saying what is wrong."""
    try:
        value = _PARSERS[decl.type](text)
        if not accepts(decl.type, value):
            raise ValueError(f"JSON {json_kind(value)}, not {decl.type.value}")
        return value
    except (ValueError, TypeError) as exc:
        why = f" ({exc})" if str(exc) else ""
        raise ValidationError(
            f"parameter {decl.name!r} expects {decl.type.value}, got {text!r}{why}: "
            f"pass e.g. -p {decl.name}={_EXAMPLES[decl.type]}"
        ) from None


def describe_parameters(spec: PipelineSpec) -> str:
    """``n (int, default 10), lr (float, required)`` — or ``none``."""
    return describe_parameters_of(spec.parameters)


def _int(text: str) -> int:
    stripped = text.strip()
    if not stripped.lstrip("+-").isdigit():
        raise ValueError("")
    return int(stripped)


def _float(text: str) -> float:
    value = float(text.strip())
    if not math.isfinite(value):
        raise ValueError("not a finite number; JSON has no NaN or infinity")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("use true/false, 1/0, yes/no or on/off")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None


def _any(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


_PARSERS: dict[ParameterType, Callable[[str], Any]] = {
    ParameterType.INT: _int,
    ParameterType.FLOAT: _float,
    ParameterType.BOOL: _bool,
    ParameterType.STR: str,
    ParameterType.LIST: _json,
    ParameterType.DICT: _json,
    ParameterType.ANY: _any,
}
