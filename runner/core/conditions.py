"""Evaluating a condition (a :mod:`runner.spec.conditions` tree) against a run.

Comparisons follow JSON, not Python: ``true`` is not ``1``, numbers compare
with numbers (``1 == 1.0``), strings with strings, and ordering (``<``...)
is defined only for numbers and strings. Comparing anything else — an int
with a str, a list with a number — is a run-time error that fails the step
(the compiler already refuses it when both types are known). ``None`` may
be compared for (in)equality with anything. ``&``/``|`` short-circuit left
to right, so an operand that is not needed is not read.
"""

from __future__ import annotations

from typing import Any

from runner.core.values import Frame
from runner.events.models import ErrorInfo
from runner.spec.conditions import AllOf, AnyOf, Comparison, Condition, Not, render
from runner.spec.params import json_kind

_ORDERED = {"number", "str"}


def evaluate(condition: Condition, frame: Frame) -> bool | ErrorInfo:
    """Whether ``condition`` holds in ``frame``; an ErrorInfo when it cannot be decided."""
    if isinstance(condition, Comparison):
        return _compare(condition, frame)
    if isinstance(condition, Not):
        inner = evaluate(condition.condition, frame)
        return inner if isinstance(inner, ErrorInfo) else not inner
    stop = isinstance(condition, AnyOf)  # any: stop at the first true; all: at the first false
    assert isinstance(condition, AllOf | AnyOf)
    for part in condition.conditions:
        result = evaluate(part, frame)
        if isinstance(result, ErrorInfo) or result is stop:
            return result
    return not stop


def _compare(comparison: Comparison, frame: Frame) -> bool | ErrorInfo:
    left, right = frame.value(comparison.left), frame.value(comparison.right)
    for value in (left, right):
        if isinstance(value, ErrorInfo):
            return value
    kinds = json_kind(left), json_kind(right)
    op = comparison.op
    if op in ("==", "!="):
        if "null" not in kinds and kinds[0] != kinds[1]:
            return _incomparable(comparison, frame, left, right)
        return (left == right) is (op == "==")
    if kinds[0] != kinds[1] or kinds[0] not in _ORDERED:
        return _incomparable(comparison, frame, left, right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _incomparable(comparison: Comparison, frame: Frame, left: Any, right: Any) -> ErrorInfo:
    return ErrorInfo(
        reason="ConditionError",
        message=(
            f"the condition of {frame.who!r} ({render(comparison)}) compares "
            f"{_short(left)} with {_short(right)} using {comparison.op}, which is not "
            "defined; compare numbers with numbers and strings with strings"
        ),
        step=frame.who,
    )


def _short(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{json_kind(value)} {text}"
