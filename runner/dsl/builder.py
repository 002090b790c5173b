"""The pipeline being defined: a builder held in a ContextVar while its function runs.

A component called while a builder is current adds a task to it instead of
running. A ``ContextVar`` (not a module global) keeps concurrent compiles in
threads or asyncio tasks from seeing each other's pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from runner.dsl.binding import bind_arguments
from runner.dsl.sources import caller_location
from runner.dsl.task import PipelineTask
from runner.errors import CompileError, InvalidNameError
from runner.events.kinds import validate_name

if TYPE_CHECKING:
    from runner.dsl.component import ComponentDefinition

__all__ = ["PipelineBuilder", "building", "current_builder"]

_MAX_NAME = 63

_current: ContextVar[PipelineBuilder | None] = ContextVar("runner_pipeline", default=None)


def current_builder() -> PipelineBuilder | None:
    """The pipeline being compiled in this context, if any."""
    return _current.get()


@contextmanager
def building(builder: PipelineBuilder) -> Iterator[PipelineBuilder]:
    token = _current.set(builder)
    try:
        yield builder
    finally:
        _current.reset(token)


class PipelineBuilder:
    """Collects the tasks of one compile of one pipeline, in creation order."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.tasks: list[PipelineTask] = []
        self._by_name: dict[str, PipelineTask] = {}

    def add_task(
        self, component: ComponentDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> PipelineTask:
        source = caller_location()
        if args:
            raise CompileError(
                f"component '{component.name}' called at {source}: inside a pipeline, pass "
                "arguments by name, e.g. train(data=..., lr=...)"
            )
        arguments = bind_arguments(component, kwargs, self, source)
        task = PipelineTask(self, component, arguments, source, self._free_name(component.name))
        self.tasks.append(task)
        self._by_name[task.name] = task
        return task

    def rename(self, task: PipelineTask, name: str) -> None:
        """Make ``name`` the task's name; it must be valid and not taken."""
        where = caller_location()
        try:
            validate_name(name, "task name")
        except InvalidNameError as exc:
            raise CompileError(f"task '{task.name}' ({where}): {exc}") from None
        holder = self._by_name.get(name)
        if holder is not None and holder is not task:
            raise CompileError(
                f"duplicate task name '{name}' at {where}: already used by the task "
                f"created at {holder.source}; task names must be unique in a pipeline"
            )
        del self._by_name[task.name]
        self._by_name[name] = task

    def _free_name(self, base: str) -> str:
        """``base``, else ``base-2``, ``base-3``...: deterministic for the same pipeline."""
        if base not in self._by_name:
            return base
        n = 2
        while True:
            suffix = f"-{n}"
            candidate = base[: _MAX_NAME - len(suffix)].rstrip("-") + suffix
            if candidate not in self._by_name:
                return candidate
            n += 1
