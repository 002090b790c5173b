"""``Collected`` and ``OneOf``: inputs that gather from loop iterations or branches.

``Collected(train.output)`` after a ``ParallelFor`` is the list of
``train``'s output over the loop's iterations, in item order (artifacts: a
list of artifacts, for an ``Input[list[Model]]`` argument). It is used in the
scope right outside the loop that runs ``train``: inside the loop read
``train.output`` itself; for a nested loop, collect in the outer loop's body
and collect that again after the outer loop.

``OneOf(a.output, b.output)`` is the output of whichever of the tasks ran —
the tasks of an ``If``/``Elif``/``Else`` chain; the consumer is skipped when
none did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.dsl.refs import LoopItem, PipelineParameter, TaskOutput, _Placeholder
from runner.dsl.sources import caller_location
from runner.errors import CompileError
from runner.spec import IOKind

if TYPE_CHECKING:
    from runner.dsl.builder import PipelineBuilder
    from runner.dsl.task import PipelineTask

__all__ = ["Collected", "OneOf", "producers_of"]


class Collected(_Placeholder):
    """``Collected(task.output)``: every iteration's value, as a list, after the loop."""

    __slots__ = ("output", "source")

    def __init__(self, output: TaskOutput) -> None:
        self.source = caller_location()
        if not isinstance(output, TaskOutput):
            raise CompileError(
                f"Collected(...) ({self.source}) takes a task output made inside a "
                f"ParallelFor, e.g. Collected(train.output); got {output!r}"
            )
        if not output.task.loops:
            raise CompileError(
                f"Collected({output.task.name}...) ({self.source}): task "
                f"'{output.task.name}' is not inside a ParallelFor, so it has one value; "
                "pass its output directly"
            )
        self.output = output

    @property
    def task(self) -> PipelineTask:
        return self.output.task

    def check_scope(self, builder: PipelineBuilder, what: str) -> None:
        """Used right outside the producer's innermost loop, nowhere else."""
        loops = self.task.loops
        here = builder.loop_stack()
        if here == loops[:-1]:
            return
        loop = loops[-1]
        if here[: len(loops)] == loops:
            hint = f"inside the loop pass {self.task.name}.{_accessor(self.output)} directly"
        else:
            hint = (
                f"use it right after ParallelFor '{loop.name}' ({loop.source}), in the block "
                "that holds that loop"
            )
        raise CompileError(
            f"{what}: Collected({self.task.name}...) ({self.source}) is used where it cannot "
            f"gather the iterations of ParallelFor '{loop.name}'; {hint}"
        )

    def _what(self) -> str:
        return f"Collected({self.output._what()})"

    def __repr__(self) -> str:
        return f"<Collected {self.task.name}.{self.output.name}>"


class OneOf(_Placeholder):
    """``OneOf(a.output, b.output)``: the output of the one task that ran."""

    __slots__ = ("options", "source")

    def __init__(self, *outputs: TaskOutput) -> None:
        self.source = caller_location()
        if len(outputs) < 2 or not all(isinstance(o, TaskOutput) for o in outputs):
            raise CompileError(
                f"OneOf(...) ({self.source}) takes two or more task outputs, e.g. "
                f"OneOf(a.output, b.output); got {outputs!r}"
            )
        tasks = [o.task for o in outputs]
        if len(set(tasks)) != len(tasks):
            raise CompileError(f"OneOf(...) ({self.source}) names a task twice")
        kinds = {o.decl.kind for o in outputs}
        if len(kinds) > 1:
            raise CompileError(
                f"OneOf(...) ({self.source}) mixes artifacts and parameters; pass outputs "
                "of one kind"
            )
        self.options: tuple[TaskOutput, ...] = tuple(outputs)

    @property
    def kind(self) -> IOKind:
        return self.options[0].decl.kind

    def _what(self) -> str:
        return "OneOf(" + ", ".join(o._what() for o in self.options) + ")"

    def __repr__(self) -> str:
        return f"<OneOf {', '.join(f'{o.task.name}.{o.name}' for o in self.options)}>"


def producers_of(binding: object) -> set[PipelineTask]:
    """The tasks an input binding reads from."""
    if isinstance(binding, TaskOutput | Collected):
        return {binding.task}
    if isinstance(binding, OneOf):
        return {o.task for o in binding.options}
    return set()


def is_placeholder(value: object) -> bool:
    return isinstance(value, PipelineParameter | TaskOutput | LoopItem | Collected | OneOf)


def _accessor(output: TaskOutput) -> str:
    return "output" if output.name == "output" else f"outputs['{output.name}']"
