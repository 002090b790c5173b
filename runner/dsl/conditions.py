"""Conditions in pipeline code: comparing placeholders builds data, never a boolean.

``task.output > 0.9`` (or ``lr == 0.1``, ``item.kind != "x"``) returns a
:class:`ConditionExpr` holding a :mod:`runner.spec.conditions` tree; ``&``,
``|`` and ``~`` combine them; ``If``/``Elif`` take them. The operands are
checked at once: artifacts cannot be compared, constants must be JSON, and
two operands whose types are both known must be comparable (numbers with
numbers, strings with strings, anything with ``None`` for ``==``/``!=``;
``<``... only for numbers and strings). ``and``/``or``/``not`` and chained
comparisons (``0 < x < 1``) would need a truth value and raise a compile
error saying what to write instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from runner.dsl.params import normalize
from runner.dsl.refs import LoopItem, PipelineParameter, TaskOutput
from runner.dsl.sources import caller_location
from runner.errors import CompileError
from runner.spec import (
    AllOf,
    AnyOf,
    CompareOp,
    Comparison,
    Condition,
    ConstantInput,
    IOKind,
    LoopItemInput,
    Not,
    PipelineParameterInput,
    TaskOutputInput,
    ValueRef,
    render,
)
from runner.spec.params import PARAMETER_KINDS, json_kind, json_problem

if TYPE_CHECKING:
    from runner.dsl.builder import PipelineBuilder
    from runner.dsl.loops import ParallelFor
    from runner.dsl.task import PipelineTask

__all__ = ["ConditionExpr", "compare"]


class ConditionExpr:
    """A condition over run-time values, for ``If``/``Elif``; combine with ``&``, ``|``, ``~``."""

    __slots__ = ("builder", "condition", "loops", "tasks")

    def __init__(
        self,
        condition: Condition,
        tasks: frozenset[PipelineTask],
        loops: frozenset[ParallelFor],
        builder: PipelineBuilder | None,
    ) -> None:
        self.condition = condition
        self.tasks = tasks
        """Tasks whose outputs the condition reads: the guarded tasks wait for them."""
        self.loops = loops
        """Loops whose items the condition reads: it must be used inside them."""
        self.builder = builder

    def __and__(self, other: object) -> ConditionExpr:
        return self._join(other, "&", AllOf)

    def __or__(self, other: object) -> ConditionExpr:
        return self._join(other, "|", AnyOf)

    def __invert__(self) -> ConditionExpr:
        return ConditionExpr(Not(condition=self.condition), self.tasks, self.loops, self.builder)

    def _join(self, other: object, symbol: str, kind: type[AllOf] | type[AnyOf]) -> ConditionExpr:
        if not isinstance(other, ConditionExpr):
            raise CompileError(
                f"condition ({caller_location()}): {symbol} combines two conditions, got "
                f"{other!r}; compare it first, e.g. (a.output > 1) {symbol} (b.output == 'x')"
            )
        parts: list[Condition] = []
        for side in (self.condition, other.condition):
            parts += side.conditions if isinstance(side, kind) else [side]
        return ConditionExpr(
            kind(conditions=parts),
            self.tasks | other.tasks,
            self.loops | other.loops,
            self.builder or other.builder,
        )

    def __bool__(self) -> bool:
        raise CompileError(
            f"condition {self} ({caller_location()}) has no truth value while the pipeline "
            "is compiled: use `with If(...)`, combine conditions with & | ~ (not and, or, "
            "not) and write 0 < x < 1 as (x > 0) & (x < 1)"
        )

    def __str__(self) -> str:
        return render(self.condition)

    def __repr__(self) -> str:
        return f"<ConditionExpr {self}>"


@dataclass(frozen=True)
class _Operand:
    ref: ValueRef
    kind: str
    what: str
    tasks: frozenset[PipelineTask] = frozenset()
    loops: frozenset[ParallelFor] = frozenset()
    builder: PipelineBuilder | None = None


def compare(left: Any, op: str, right: Any) -> ConditionExpr:
    """``left op right`` as a condition; raises CompileError for what cannot be compared."""
    a, b = _operand(left), _operand(right)
    if a.builder and b.builder and a.builder is not b.builder:
        raise CompileError(
            f"condition ({caller_location()}) compares values of two different pipelines"
        )
    _check_comparable(a, op, b)
    return ConditionExpr(
        Comparison(op=cast(CompareOp, op), left=a.ref, right=b.ref),
        a.tasks | b.tasks,
        a.loops | b.loops,
        a.builder or b.builder,
    )


def _operand(value: Any) -> _Operand:
    if isinstance(value, PipelineParameter):
        return _Operand(
            PipelineParameterInput(parameter=value.name),
            PARAMETER_KINDS[value.type.type],
            f"pipeline parameter '{value.name}' ({value.type.type.value})",
            builder=value.builder,
        )
    if isinstance(value, TaskOutput):
        decl = value.decl
        if decl.kind is IOKind.ARTIFACT or decl.parameter_type is None:
            raise CompileError(
                f"condition ({caller_location()}): {value.describe()} is an artifact and "
                "cannot be compared; return the value to compare from the component "
                "(e.g. -> float) and compare task.output"
            )
        return _Operand(
            TaskOutputInput(task=value.task.name, output=value.name),
            PARAMETER_KINDS[decl.parameter_type],
            value.describe(),
            tasks=frozenset({value.task}),
            builder=value.task.builder,
        )
    if isinstance(value, LoopItem):
        loop = value._loop
        return _Operand(
            LoopItemInput(loop=loop.name, path=list(value._path)),
            PARAMETER_KINDS[value._type().type],
            value._what(),
            loops=frozenset({loop}),
            builder=loop.builder,
        )
    return _constant(value)


def _constant(value: Any) -> _Operand:
    if isinstance(value, ConditionExpr):
        raise CompileError(
            f"condition ({caller_location()}): cannot compare a condition; combine "
            "conditions with & | ~"
        )
    problem = json_problem(value)
    if problem is not None:
        raise CompileError(
            f"condition ({caller_location()}): {problem}; compare with a constant JSON "
            "value, a pipeline parameter, a task output or a loop item"
        )
    return _Operand(
        ConstantInput(value=normalize(value)),
        json_kind(value),
        f"the {json_kind(value)} constant {value!r}",
    )


def _check_comparable(a: _Operand, op: str, b: _Operand) -> None:
    kinds = {a.kind, b.kind}
    if "any" in kinds:
        ok = op in ("==", "!=") or not kinds & {"null", "bool", "list", "dict"}
    elif op in ("==", "!="):
        ok = len(kinds) == 1 or "null" in kinds
    else:
        ok = len(kinds) == 1 and kinds <= {"number", "str"}
    if not ok:
        raise CompileError(
            f"condition ({caller_location()}) compares {a.what} with {b.what} using {op}: "
            "incompatible types; compare numbers with numbers and strings with strings "
            "(< <= > >= work only on those)"
        )
