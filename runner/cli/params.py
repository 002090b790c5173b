"""``-p NAME=VALUE``: pipeline parameters from the command line, typed by the spec.

A value is parsed by its parameter's declared type: ``int``, ``float``,
``bool`` (true/false, 1/0, yes/no, on/off), ``str`` (as is), ``list`` and
``dict`` (JSON), ``any`` (JSON if it parses, else the text). Every mistake is
a :class:`~runner.errors.ValidationError` that names the parameter, what was
expected and what was given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from runner.errors import ValidationError
from runner.spec.models import ParameterDecl, ParameterType, PipelineSpec

__all__ = ["describe_parameters", "parse_params", "parse_value"]

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
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValidationError(
                f"-p {item!r} is not NAME=VALUE: write e.g. -p "
                f"{spec.parameters[0].name if spec.parameters else 'name'}=VALUE"
            )
        decl = spec.parameter(name)
        if decl is None:
            raise ValidationError(
                f"pipeline '{spec.name}' has no parameter {name!r}; its parameters: "
                f"{describe_parameters(spec)}"
            )
        values[name] = parse_value(decl, text)  # a repeated -p wins over the earlier one
    missing = [p for p in spec.parameters if not p.optional and p.name not in values]
    if missing:
        first = missing[0]
        raise ValidationError(
            f"pipeline '{spec.name}' needs parameter {first.name!r} ({first.type.value}): "
            f"pass -p {first.name}={_EXAMPLES[first.type]}"
        )
    return values


def parse_value(decl: ParameterDecl, text: str) -> Any:
    """``text`` as a value of ``decl``'s type, or a ValidationError saying what is wrong."""
    try:
        return _PARSERS[decl.type](text)
    except (ValueError, TypeError) as exc:
        why = f" ({exc})" if str(exc) else ""
        raise ValidationError(
            f"parameter {decl.name!r} expects {decl.type.value}, got {text!r}{why}: "
            f"pass e.g. -p {decl.name}={_EXAMPLES[decl.type]}"
        ) from None


def describe_parameters(spec: PipelineSpec) -> str:
    """``n (int, default 10), lr (float, required)`` — or ``none``."""
    parts = []
    for p in spec.parameters:
        default = f"default {json.dumps(p.default)}" if p.optional else "required"
        parts.append(f"{p.name} ({p.type.value}, {default})")
    return ", ".join(parts) or "none"


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


def _json_of(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg}") from None
        if not isinstance(value, kind):
            raise ValueError(f"JSON {type(value).__name__}, not {kind.__name__}")
        return value

    return parse


def _any(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


_PARSERS = {
    ParameterType.INT: _int,
    ParameterType.FLOAT: _float,
    ParameterType.BOOL: _bool,
    ParameterType.STR: str,
    ParameterType.LIST: _json_of(list),
    ParameterType.DICT: _json_of(dict),
    ParameterType.ANY: _any,
}
