"""Placeholders that stand for values known only at run time.

Inside a pipeline function, a pipeline parameter and a task's output are not
values yet: they can only be passed on to component arguments. Using them as
values (``if lr > 0``, ``f"{rows}"``) raises a clear compile error instead of
silently compiling a wrong pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from runner.dsl.params import ParamType
from runner.dsl.sources import caller_location
from runner.errors import CompileError
from runner.spec import OutputDecl

if TYPE_CHECKING:
    from runner.dsl.builder import PipelineBuilder
    from runner.dsl.task import PipelineTask

__all__ = ["PipelineParameter", "TaskOutput"]


class _Placeholder:
    __slots__ = ()

    def _what(self) -> str:
        raise NotImplementedError

    def _no_value(self) -> NoReturn:
        raise CompileError(
            f"{self._what()} has no value while the pipeline is compiled "
            f"({caller_location()}); pass it to a component argument as is and do "
            "arithmetic, formatting or branching inside a component"
        )

    def __bool__(self) -> bool:
        self._no_value()

    def __format__(self, format_spec: str) -> str:
        self._no_value()


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
