"""``ParallelFor``: run the tasks of a block once per item of a list.

::

    with ParallelFor(make.output, parallelism=8) as item:
        t = train(lr=item.lr)
    best = pick(scores=Collected(t.output))

The items are a constant list, a ``list`` pipeline parameter, a ``list``
output of an upstream task (known only at run time) or a field of an outer
loop's item. Each iteration is its own step per task (``train[3]``), cached
on its own inputs; ``parallelism`` bounds how many iterations run at once.
Loops nest: the inner loop's steps are ``train[i,j]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.dsl.conditions import ConditionExpr
from runner.dsl.params import normalize
from runner.dsl.refs import LoopItem, PipelineParameter, TaskOutput
from runner.dsl.sources import caller_location
from runner.errors import CompileError
from runner.spec import (
    ConstantInput,
    IOKind,
    LoopItemInput,
    ParameterType,
    PipelineParameterInput,
    TaskOutputInput,
    ValueRef,
)
from runner.spec.params import PARAMETER_KINDS, json_kind, json_problem

if TYPE_CHECKING:
    from runner.dsl.builder import PipelineBuilder
    from runner.dsl.task import PipelineTask

__all__ = ["ParallelFor"]

_LISTS = (ParameterType.LIST, ParameterType.ANY)
_TYPES = {kind: ptype for ptype, kind in PARAMETER_KINDS.items() if kind not in ("number", "any")}
"""The parameter type of items of one JSON kind (numbers are int or float: see item_type)."""


class ParallelFor:
    """``with ParallelFor(items, parallelism=N) as item:`` — one iteration per item."""

    def __init__(self, items: Any, parallelism: int | None = None) -> None:
        self.source = caller_location()
        if parallelism is not None and (
            isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 0
        ):
            raise CompileError(
                f"ParallelFor ({self.source}): parallelism must be a positive integer (or "
                f"0/None for no limit), got {parallelism!r}"
            )
        self.parallelism = parallelism or None
        self._items = items
        self.name = ""
        self.builder: PipelineBuilder | None = None
        self.items: ValueRef = ConstantInput(value=[])
        self.constant: list[Any] | None = None
        """The items when they are known at compile time."""
        self.producers: frozenset[PipelineTask] = frozenset()
        self.outer: tuple[ParallelFor, ...] = ()
        """The enclosing loops, outermost first."""
        self.conditions: list[ConditionExpr] = []
        self.tasks: list[PipelineTask] = []

    def __repr__(self) -> str:
        return f"<ParallelFor {self.name or '?'} at {self.source}>"

    def __enter__(self) -> LoopItem:
        from runner.dsl.builder import current_builder

        builder = current_builder()
        if builder is None:
            raise CompileError(
                f"ParallelFor ({self.source}) is only meaningful inside a @pipeline function"
            )
        if self.builder is not None:
            raise CompileError(f"ParallelFor ({self.source}) is entered twice; create a new one")
        self.builder = builder
        self.outer = builder.loop_stack()
        self.items, self.constant, self.producers = self._resolve(self._items, builder)
        self.conditions = builder.conditions_in_scope()
        builder.open_loop(self)
        return LoopItem(self)

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        assert self.builder is not None
        self.builder.close_group(self)
        if exc_type is None and not self.tasks:
            raise CompileError(
                f"ParallelFor '{self.name}' ({self.source}) holds no task; call components "
                "inside the with block"
            )

    @property
    def condition_tasks(self) -> frozenset[PipelineTask]:
        return frozenset(t for c in self.conditions for t in c.tasks)

    def _resolve(
        self, items: Any, builder: PipelineBuilder
    ) -> tuple[ValueRef, list[Any] | None, frozenset[PipelineTask]]:
        what = f"ParallelFor ({self.source})"
        if isinstance(items, list | tuple):
            problem = json_problem(list(items))
            if problem is not None:
                raise CompileError(f"{what}: the items are not JSON values: {problem}")
            values = normalize(list(items))
            return ConstantInput(value=values), values, frozenset()
        if isinstance(items, PipelineParameter):
            if items.type.type not in _LISTS:
                raise CompileError(
                    f"{what} iterates over pipeline parameter '{items.name}', a "
                    f"{items.type.type.value}; declare it as a list"
                )
            return PipelineParameterInput(parameter=items.name), None, frozenset()
        if isinstance(items, TaskOutput):
            return self._output(items, builder, what)
        if isinstance(items, LoopItem):
            if items._loop not in builder.loop_stack():
                raise CompileError(f"{what} iterates over {items._what()} outside that loop")
            ref = LoopItemInput(loop=items._loop.name, path=list(items._path))
            return ref, None, frozenset()
        raise CompileError(
            f"{what} iterates over a list: a constant list, a list pipeline parameter, a "
            f"list output of a task or a field of an outer loop's item; got {items!r}"
        )

    def _output(
        self, items: TaskOutput, builder: PipelineBuilder, what: str
    ) -> tuple[ValueRef, None, frozenset[PipelineTask]]:
        decl = items.decl
        if decl.kind is IOKind.ARTIFACT or decl.parameter_type not in _LISTS:
            raise CompileError(
                f"{what} iterates over {items.describe()}; a loop needs a list parameter "
                "output (return a list, e.g. -> list)"
            )
        builder.check_visible(items, what)
        ref = TaskOutputInput(task=items.task.name, output=items.name)
        return ref, None, frozenset({items.task})

    # -- what the items are known to hold ---------------------------------------------------

    def check_field(self, path: tuple[str | int, ...], key: str | int) -> None:
        """Over constant items, every item must have ``key`` at ``path``."""
        for index, item in enumerate(self.constant or []):
            value = _walk(item, (*path, key))
            if value is _MISSING:
                walked = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in path)
                raise CompileError(
                    f"ParallelFor '{self.name}' ({caller_location()}): item {index} "
                    f"({_short(item)}) has no {'field' if isinstance(key, str) else 'index'} "
                    f"item{walked}{_show(key)}; give every item that field"
                )

    def item_type(self, path: tuple[str | int, ...]) -> ParameterType:
        """The common parameter type of the items at ``path`` (ANY when unknown or mixed)."""
        if not self.constant:
            return ParameterType.ANY
        kinds = {json_kind(_walk(item, path)) for item in self.constant}
        numbers = [_walk(item, path) for item in self.constant]
        if kinds == {"number"}:
            return (
                ParameterType.INT
                if all(isinstance(n, int) for n in numbers)
                else (ParameterType.FLOAT)
            )
        return _TYPES.get(kinds.pop(), ParameterType.ANY) if len(kinds) == 1 else ParameterType.ANY


class _Missing:
    pass


_MISSING = _Missing()


def _walk(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(key, str):
            if not (isinstance(value, dict) and key in value):
                return _MISSING
            value = value[key]
        else:
            if not (isinstance(value, list) and -len(value) <= key < len(value)):
                return _MISSING
            value = value[key]
    return value


def _show(key: str | int) -> str:
    return f".{key}" if isinstance(key, str) else f"[{key}]"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:47] + "..."
