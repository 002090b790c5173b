"""Conditions as data: a small expression tree, evaluated by the scheduler.

A condition is a comparison of two values (``==``, ``!=``, ``<``, ``<=``,
``>``, ``>=``) whose operands are constants, pipeline parameters, task
outputs or loop items; comparisons combine with ``all`` (``&``), ``any``
(``|``) and ``not`` (which ``Elif``/``Else`` use for the branches before
them). Nothing is ever evaluated as code: no ``eval``, no templates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runner.spec.base import Frozen
from runner.spec.bindings import (
    ConstantInput,
    LoopItemInput,
    PipelineParameterInput,
    TaskOutputInput,
    ValueRef,
)

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[CompareOp, ...] = ("==", "!=", "<", "<=", ">", ">=")


class Comparison(Frozen):
    kind: Literal["compare"] = "compare"
    op: CompareOp
    left: ValueRef
    right: ValueRef


class AllOf(Frozen):
    """True when every condition is (``a & b``)."""

    kind: Literal["all"] = "all"
    conditions: list[Condition] = Field(min_length=1)


class AnyOf(Frozen):
    """True when at least one condition is (``a | b``)."""

    kind: Literal["any"] = "any"
    conditions: list[Condition] = Field(min_length=1)


class Not(Frozen):
    kind: Literal["not"] = "not"
    condition: Condition


Condition = Annotated[Comparison | AllOf | AnyOf | Not, Field(discriminator="kind")]

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def condition_refs(condition: Condition) -> list[ValueRef]:
    """Every operand of ``condition``, left to right."""
    if isinstance(condition, Comparison):
        return [condition.left, condition.right]
    if isinstance(condition, Not):
        return condition_refs(condition.condition)
    return [ref for part in condition.conditions for ref in condition_refs(part)]


def render_value(ref: ValueRef) -> str:
    """A short human form of an operand, for messages: ``train.output``, ``lr``, ``item.lr``."""
    if isinstance(ref, ConstantInput):
        return repr(ref.value)
    if isinstance(ref, PipelineParameterInput):
        return ref.parameter
    if isinstance(ref, TaskOutputInput):
        return f"{ref.task}.outputs[{ref.output!r}]"
    assert isinstance(ref, LoopItemInput)
    return "item" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in ref.path)


def render(condition: Condition) -> str:
    """The condition as the user wrote it, roughly: ``train.outputs['output'] > 0.9``."""
    if isinstance(condition, Comparison):
        return f"{render_value(condition.left)} {condition.op} {render_value(condition.right)}"
    if isinstance(condition, Not):
        return f"not ({render(condition.condition)})"
    joiner = " & " if isinstance(condition, AllOf) else " | "
    parts = [render(c) for c in condition.conditions]
    return parts[0] if len(parts) == 1 else joiner.join(f"({p})" for p in parts)
