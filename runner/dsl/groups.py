"""``If`` / ``Elif`` / ``Else`` and ``ExitHandler``: blocks that change when tasks run.

::

    with If(evaluate.output >= 0.9):
        register(model=train.outputs["model"])
    with Elif(evaluate.output >= 0.5):
        review(model=train.outputs["model"])
    with Else():
        alert(msg="model too weak")

A task inside a branch runs only when its branch's condition holds at run
time (``Elif`` and ``Else`` hold only when no earlier branch did), otherwise
its step is skipped with reason ``condition`` — which does not fail the run.
Blocks nest, and nest with ``ParallelFor``.

``with ExitHandler(exit_task):`` runs ``exit_task`` after every task of the
block has finished, whether they succeeded, failed or the run was cancelled;
a ``PipelineTaskFinalStatus`` argument of its component tells it how they
ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.dsl.conditions import ConditionExpr
from runner.dsl.refs import PipelineParameter
from runner.dsl.sources import caller_location
from runner.dsl.task import PipelineTask
from runner.errors import CompileError
from runner.spec import ConstantInput, FinalStatusInput

if TYPE_CHECKING:
    from runner.dsl.builder import PipelineBuilder

__all__ = ["Elif", "Else", "ExitHandler", "If"]


class _Block:
    """A ``with`` block of a pipeline function."""

    keyword = ""

    def __init__(self) -> None:
        self.source = caller_location()
        self.builder: PipelineBuilder | None = None
        self.tasks: list[PipelineTask] = []

    def _open(self) -> PipelineBuilder:
        from runner.dsl.builder import current_builder

        builder = current_builder()
        if builder is None:
            raise CompileError(
                f"{self.keyword} ({self.source}) is only meaningful inside a @pipeline function"
            )
        if self.builder is not None:
            raise CompileError(f"{self.keyword} ({self.source}) is entered twice")
        self.builder = builder
        return builder

    def _close(self, exc_type: type[BaseException] | None) -> bool:
        """Pop the block; False when an exception is already on its way."""
        assert self.builder is not None
        self.builder.close_group(self)
        if exc_type is not None:
            return False
        if not self.tasks:
            raise CompileError(
                f"{self.keyword} ({self.source}) holds no task; call components inside it"
            )
        return True


class _Branch(_Block):
    """One branch of an If/Elif/Else chain; ``condition`` is what must hold to run it."""

    def __init__(self) -> None:
        super().__init__()
        self.chain: list[ConditionExpr] = []
        """The conditions of this branch and the ones before it, for the next Elif/Else."""
        self.condition: ConditionExpr | None = None

    def _checked(self, condition: object) -> ConditionExpr:
        if not isinstance(condition, ConditionExpr):
            raise CompileError(
                f"{self.keyword} ({self.source}) takes a comparison of a task output, "
                "a pipeline parameter or a loop item, e.g. If(task.output > 0.9); got "
                f"{condition!r}"
            )
        return condition

    def __enter__(self) -> None:
        builder = self._open()
        self.condition = self._condition(builder)
        builder.check_condition(self.condition, f"{self.keyword} ({self.source})")
        builder.open_group(self)

    def _condition(self, builder: PipelineBuilder) -> ConditionExpr:
        raise NotImplementedError

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if self._close(exc_type) and self.keyword != "Else()":
            assert self.builder is not None
            self.builder.remember_branch(self.chain)


class If(_Branch):
    """``with If(task.output > 0.9):`` — the block runs only when the condition holds.

    ``name`` is accepted for KFP compatibility and not used (so are ``Elif``'s,
    ``Else``'s and ``ExitHandler``'s).
    """

    keyword = "If(...)"

    def __init__(self, condition: ConditionExpr, name: str | None = None) -> None:
        super().__init__()
        self._given = self._checked(condition)
        self.name = name

    def _condition(self, builder: PipelineBuilder) -> ConditionExpr:
        self.chain = [self._given]
        return self._given


class Elif(_Branch):
    """``with Elif(cond):`` right after an If/Elif block: runs when no branch before did
    and ``cond`` holds."""

    keyword = "Elif(...)"

    def __init__(self, condition: ConditionExpr, name: str | None = None) -> None:
        super().__init__()
        self._given = self._checked(condition)
        self.name = name

    def _condition(self, builder: PipelineBuilder) -> ConditionExpr:
        before = builder.take_branch(self.keyword, self.source)
        self.chain = [*before, self._given]
        return _none_of(before) & self._given


class Else(_Branch):
    """``with Else():`` right after an If/Elif block: runs when no branch before did."""

    keyword = "Else()"

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name

    def _condition(self, builder: PipelineBuilder) -> ConditionExpr:
        return _none_of(builder.take_branch(self.keyword, self.source))


def _none_of(conditions: list[ConditionExpr]) -> ConditionExpr:
    result = ~conditions[0]
    for condition in conditions[1:]:
        result = result & ~condition
    return result


class ExitHandler(_Block):
    """``with ExitHandler(exit_task):`` — ``exit_task`` runs after everything in the block,
    whatever happened to it (failure and cancellation included)."""

    keyword = "ExitHandler(...)"

    def __init__(self, exit_task: PipelineTask, name: str | None = None) -> None:
        super().__init__()
        if not isinstance(exit_task, PipelineTask):
            raise CompileError(
                f"ExitHandler ({self.source}) takes a task created before the with block, "
                f"e.g. ExitHandler(notify(channel='#ml')); got {exit_task!r}"
            )
        self.exit_task = exit_task
        self.name = name

    def __enter__(self) -> None:
        builder = self._open()
        task = self.exit_task
        what = f"ExitHandler ({self.source}): exit task '{task.name}'"
        if task.builder is not builder:
            raise CompileError(f"{what} belongs to another pipeline")
        if task.exit_handler:
            raise CompileError(f"{what} already handles another ExitHandler; create one per block")
        if task.loops != builder.loop_stack() or task.conditions != builder.conditions_in_scope():
            raise CompileError(
                f"{what} must be created in the same block (loop, If branch) as the "
                "ExitHandler, just before it"
            )
        upstream = [
            name
            for name, b in task.arguments.items()
            if not isinstance(b, ConstantInput | PipelineParameter)
        ]
        if upstream or task.upstream_after:
            raise CompileError(
                f"{what} must not depend on other tasks (argument(s) "
                f"{', '.join(upstream) or '-'}): it runs whatever happened, so it can only "
                "take constants, pipeline parameters and its PipelineTaskFinalStatus"
            )
        for arg in task.component.signature.arguments:
            if arg.final_status:
                task.arguments[arg.name] = FinalStatusInput()
        task.exit_handler = True
        builder.open_group(self)

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if self._close(exc_type):
            self.exit_task.guarded = list(self.tasks)
