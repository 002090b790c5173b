"""Placeholders that stand for values known only at run time.

Inside a pipeline function, a pipeline parameter, a task's output and a
loop's item are not values yet: they can only be passed on to component
arguments, or compared (``task.output > 0.9``) to build the condition of an
``If``. Using them as values (``if lr > 0``, ``f"{rows}"``) raises a clear
compile error instead of silently compiling a wrong pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from runner.dsl.params import ParamType
from runner.dsl.sources import caller_location
from runner.errors import CompileError
from runner.spec import OutputDecl

if TYPE_CHECKING:
    from runner.dsl.builder import PipelineBuilder
    from runner.dsl.conditions import ConditionExpr
    from runner.dsl.loops import ParallelFor
    from runner.dsl.task import PipelineTask

__all__ = ["LoopItem", "PipelineParameter", "TaskOutput"]


class _Placeholder:
    __slots__ = ()

    def _what(self) -> str:
        raise NotImplementedError

    def _no_value(self) -> NoReturn:
        raise CompileError(
            f"{self._what()} has no value while the pipeline is compiled "
            f"({caller_location()}); pass it to a component argument as is, compare it "
            "in a `with If(...)`, and do arithmetic or formatting inside a component"
        )

    def __bool__(self) -> bool:
        self._no_value()

    def __format__(self, format_spec: str) -> str:
        self._no_value()

    # Comparisons build conditions (data), as in KFP: `with If(task.output > 0.9):`.
    def _compare(self, op: str, other: Any) -> ConditionExpr:
        from runner.dsl.conditions import compare

        return compare(self, op, other)

    def __eq__(self, other: object) -> ConditionExpr:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> ConditionExpr:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: Any) -> ConditionExpr:
        return self._compare("<", other)

    def __le__(self, other: Any) -> ConditionExpr:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> ConditionExpr:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> ConditionExpr:
        return self._compare(">=", other)

    __hash__ = object.__hash__


class PipelineParameter(_Placeholder):
    """A parameter of the pipeline function, e.g. ``rows`` in ``def iris(rows: int = 150)``."""

    __slots__ = ("builder", "name", "type")

    def __init__(self, name: str, ptype: ParamType, builder: PipelineBuilder) -> None:
        self.name = name
        self.type = ptype
        self.builder = builder

    def _what(self) -> str:
        return f"pipeline parameter '{self.name}'"

    def __repr__(self) -> str:
        return f"<PipelineParameter {self.name}: {self.type.type.value}>"


class TaskOutput(_Placeholder):
    """An output of a task: ``task.output`` or ``task.outputs["model"]``."""

    __slots__ = ("decl", "task")

    def __init__(self, task: PipelineTask, decl: OutputDecl) -> None:
        self.task = task
        self.decl = decl

    @property
    def name(self) -> str:
        return self.decl.name

    def describe(self) -> str:
        kind = self.decl.artifact_kind or self.decl.parameter_type
        assert kind is not None
        return f"the {kind.value} output '{self.name}' of task '{self.task.name}'"

    def _what(self) -> str:
        return f"output '{self.name}' of task '{self.task.name}'"

    def __repr__(self) -> str:
        return f"<TaskOutput {self.task.name}.{self.name}>"


class LoopItem(_Placeholder):
    """The current item of a ``ParallelFor`` (``with ParallelFor(xs) as item``).

    ``item.lr`` and ``item["lr"]`` read a field of a dict item, ``item[0]`` a
    list item's element. Over a constant list, a field that some item lacks is
    a compile error. Its own attributes are private (``_loop``, ``_path``) so
    that any public name reads a field.
    """

    __slots__ = ("_loop", "_path")

    def __init__(self, loop: ParallelFor, path: tuple[str | int, ...] = ()) -> None:
        self._loop = loop
        self._path = path

    def __getattr__(self, name: str) -> LoopItem:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._at(name)

    def __getitem__(self, key: str | int) -> LoopItem:
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise CompileError(
                f"{self._what()} ({caller_location()}): index it with a field name or a "
                f"list position, got {key!r}"
            )
        return self._at(key)

    def _at(self, key: str | int) -> LoopItem:
        self._loop.check_field(self._path, key)
        return LoopItem(self._loop, (*self._path, key))

    def _type(self) -> ParamType:
        """The JSON type of this value in every item (``any`` unless the items are constants)."""
        return ParamType(self._loop.item_type(self._path), nullable=True)

    def _what(self) -> str:
        walked = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in self._path)
        return f"the item{walked} of ParallelFor '{self._loop.name}'"

    def __repr__(self) -> str:
        return f"<LoopItem {self._loop.name}{list(self._path)}>"
