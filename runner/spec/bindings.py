"""Where a task input (or a condition operand, or a loop's items) gets its value.

Plain bindings — a constant, a pipeline parameter, an upstream task's output —
are known to every pipeline. Control flow adds four:

- ``loop_item``: the current item of an enclosing ``ParallelFor`` (``path``
  walks into it: ``item.lr`` is ``path=["lr"]``);
- ``collected``: every iteration's value of an output of a task inside a
  ``ParallelFor``, as a list, for a fan-in task after the loop;
- ``one_of``: the output of whichever of several tasks ran (the branches of
  an ``If``/``Elif``/``Else``);
- ``final_status``: the final status an exit handler task receives.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runner.spec.base import Frozen, JsonValue


class ConstantInput(Frozen):
    kind: Literal["constant"] = "constant"
    value: JsonValue


class PipelineParameterInput(Frozen):
    kind: Literal["pipeline_parameter"] = "pipeline_parameter"
    parameter: str


class TaskOutputInput(Frozen):
    kind: Literal["task_output"] = "task_output"
    task: str
    output: str


class LoopItemInput(Frozen):
    """The current item of the enclosing loop ``loop``, or a field inside it."""

    kind: Literal["loop_item"] = "loop_item"
    loop: str
    path: list[str | int] = Field(default_factory=list)
    """Keys (dict fields) and indexes (list positions) to walk into the item."""


class CollectedInput(Frozen):
    """The list of ``output`` of ``task`` over the iterations of the loop holding ``task``."""

    kind: Literal["collected"] = "collected"
    task: str
    output: str


class OneOfInput(Frozen):
    """The first option whose task succeeded; the task is skipped when none did."""

    kind: Literal["one_of"] = "one_of"
    options: list[TaskOutputInput] = Field(min_length=2)


class FinalStatusInput(Frozen):
    """The final status of the tasks an exit handler guards (a JSON object)."""

    kind: Literal["final_status"] = "final_status"


InputBinding = Annotated[
    ConstantInput
    | PipelineParameterInput
    | TaskOutputInput
    | LoopItemInput
    | CollectedInput
    | OneOfInput
    | FinalStatusInput,
    Field(discriminator="kind"),
]

ValueRef = Annotated[
    ConstantInput | PipelineParameterInput | TaskOutputInput | LoopItemInput,
    Field(discriminator="kind"),
]
"""A single value: a condition operand or what a loop iterates over."""
