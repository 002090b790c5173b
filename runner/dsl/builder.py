"""The pipeline being defined: a builder held in a ContextVar while its function runs.

A component called while a builder is current adds a task to it instead of
running. A ``ContextVar`` (not a module global) keeps concurrent compiles in
threads or asyncio tasks from seeing each other's pipeline.

The builder also holds the stack of open ``with`` blocks (``If``/``Elif``/
``Else``, ``ParallelFor``, ``ExitHandler``): a task created inside them
records its loops and the conditions that gate it, and joins every open
block. An ``Elif``/``Else`` must follow its ``If``/``Elif`` block directly:
the builder remembers the chain until anything else happens at that level.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from runner.dsl.binding import bind_arguments
from runner.dsl.sources import caller_location
from runner.dsl.task import PipelineTask
from runner.errors import CompileError, InvalidNameError
from runner.events.kinds import validate_name

if TYPE_CHECKING:
    from runner.dsl.component import ComponentDefinition
    from runner.dsl.conditions import ConditionExpr
    from runner.dsl.loops import ParallelFor
    from runner.dsl.refs import TaskOutput


class Block(Protocol):
    """An open ``with`` block: it collects the tasks created inside it."""

    tasks: list[PipelineTask]


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
        self.loops: list[ParallelFor] = []
        self._by_name: dict[str, PipelineTask] = {}
        self._loop_names: dict[str, ParallelFor] = {}
        self._blocks: list[Block] = []
        self._moves = 0
        """Counts tasks and blocks created: an Elif/Else is valid only if none was since."""
        self._branch: tuple[int, int, list[ConditionExpr]] | None = None

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
        task.loops = self.loop_stack()
        task.conditions = self.conditions_in_scope()
        for block in self._blocks:
            block.tasks.append(task)
        self.tasks.append(task)
        self._by_name[task.name] = task
        self._moves += 1
        return task

    # -- with blocks -------------------------------------------------------------------

    def open_group(self, block: Block) -> None:
        self._moves += 1
        self._blocks.append(block)

    def open_loop(self, loop: ParallelFor) -> None:
        loop.name = self._free_name(f"for-loop-{len(self.loops) + 1}")
        self._loop_names[loop.name] = loop
        self.loops.append(loop)
        self.open_group(loop)

    def close_group(self, block: Block) -> None:
        assert self._blocks, "a with block closed twice"
        assert self._blocks[-1] is block, "with blocks closed out of order"
        self._blocks.pop()

    def loop_stack(self) -> tuple[ParallelFor, ...]:
        """The open loops, outermost first: the scope of a task created now."""
        from runner.dsl.loops import ParallelFor

        return tuple(b for b in self._blocks if isinstance(b, ParallelFor))

    def conditions_in_scope(self) -> list[ConditionExpr]:
        """Conditions of the open branches inside the innermost loop (outer ones gate the loop)."""
        from runner.dsl.groups import _Branch
        from runner.dsl.loops import ParallelFor

        found: list[ConditionExpr] = []
        for block in reversed(self._blocks):
            if isinstance(block, ParallelFor):
                break
            if isinstance(block, _Branch) and block.condition is not None:
                found.append(block.condition)
        return found[::-1]

    def remember_branch(self, chain: list[ConditionExpr]) -> None:
        """An If/Elif block just closed: an Elif/Else may follow it directly."""
        self._branch = (len(self._blocks), self._moves, chain)

    def take_branch(self, keyword: str, source: str) -> list[ConditionExpr]:
        """The conditions of the If/Elif chain an Elif/Else continues."""
        branch, self._branch = self._branch, None
        if branch is None or branch[:2] != (len(self._blocks), self._moves):
            raise CompileError(
                f"{keyword} ({source}) must come right after a `with If(...)` or "
                "`with Elif(...)` block at the same level"
            )
        return branch[2]

    def check_visible(self, output: TaskOutput, what: str) -> None:
        """A task output read here must come from this scope or an enclosing one."""
        loops = output.task.loops
        here = self.loop_stack()
        if here[: len(loops)] != loops:
            loop = loops[len(here) if len(here) < len(loops) else -1]
            raise CompileError(
                f"{what}: task '{output.task.name}' runs once per iteration of ParallelFor "
                f"'{loop.name}' ({loop.source}); outside that loop read all its values with "
                f"Collected({output.task.name}.{_accessor(output)})"
            )

    def check_condition(self, condition: ConditionExpr, what: str) -> None:
        if condition.builder is not None and condition.builder is not self:
            raise CompileError(f"{what}: the condition belongs to another pipeline")
        here = self.loop_stack()
        for task in condition.tasks:
            if here[: len(task.loops)] != task.loops:
                raise CompileError(
                    f"{what}: the condition reads task '{task.name}', which runs in a "
                    "ParallelFor that does not enclose this block"
                )
        for loop in condition.loops:
            if loop not in here:
                raise CompileError(
                    f"{what}: the condition reads the item of ParallelFor '{loop.name}' "
                    "outside that loop"
                )

    def rename(self, task: PipelineTask, name: str) -> None:
        """Make ``name`` the task's name; it must be valid and not taken."""
        where = caller_location()
        try:
            validate_name(name, "task name")
        except InvalidNameError as exc:
            raise CompileError(f"task '{task.name}' ({where}): {exc}") from None
        loop = self._loop_names.get(name)
        if loop is not None:
            raise CompileError(
                f"task name '{name}' at {where} is the name of the ParallelFor at "
                f"{loop.source}; choose another"
            )
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
        if base not in self._by_name and base not in self._loop_names:
            return base
        n = 2
        while True:
            suffix = f"-{n}"
            candidate = base[: _MAX_NAME - len(suffix)].rstrip("-") + suffix
            if candidate not in self._by_name and candidate not in self._loop_names:
                return candidate
            n += 1


def _accessor(output: TaskOutput) -> str:
    return "output" if output.name == "output" else f"outputs['{output.name}']"
