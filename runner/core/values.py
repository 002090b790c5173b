"""Reading values inside one iteration: constants, parameters, outputs, loop items.

A :class:`Frame` is the view from one node instance: the plan, the run state
and the iteration indexes of the instance (``()`` outside loops, ``(2, 1)``
for ``train[2,1]``). A task output or loop item it reads belongs to the
instance of the same iterations, cut to the producer's depth: ``prep`` read
from ``train[2,1]`` is the step ``prep``; ``item`` of the outer loop is item
2 of ``for-loop-1``. Each read is O(1) (O(len(path)) for a field path).

Problems are returned as :class:`~runner.events.models.ErrorInfo` values,
never raised: a missing output or item field fails the step that needed it,
not the controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.core import names
from runner.core.plan import Plan
from runner.core.state import RunState
from runner.events.models import ErrorInfo
from runner.spec.bindings import (
    ConstantInput,
    LoopItemInput,
    PipelineParameterInput,
    TaskOutputInput,
    ValueRef,
)


@dataclass(frozen=True, slots=True)
class Frame:
    plan: Plan
    state: RunState
    indexes: names.Indexes
    who: str
    """The step or loop instance reading, for messages."""

    def step_of(self, task: str) -> str:
        """The step of ``task`` in this frame's iterations (``task`` is in an enclosing scope)."""
        return names.instance(task, self.indexes[: self.plan.tasks[task].depth])

    def value(self, ref: ValueRef) -> Any:
        """The value of ``ref``; an :class:`ErrorInfo` when it cannot be read."""
        if isinstance(ref, ConstantInput):
            return ref.value
        if isinstance(ref, PipelineParameterInput):
            return self.state.parameters.get(ref.parameter)
        if isinstance(ref, TaskOutputInput):
            return self.output(ref.task, ref.output, what="")
        assert isinstance(ref, LoopItemInput)
        return self.item(ref)

    def output(self, task: str, output: str, *, what: str, artifact: bool = False) -> Any:
        step = self.step_of(task)
        upstream = self.state.steps[step]
        source = upstream.outputs if artifact else upstream.parameters
        if output not in source:
            produced = ", ".join(sorted(source)) or "nothing"
            return ErrorInfo(
                reason="MissingInput",
                message=(
                    f"step {self.who!r}{what} needs output {output!r} of step {step!r}, which "
                    f"did not produce it (it produced: {produced}); make {task!r} write or "
                    f"return {output!r}"
                ),
                step=self.who,
            )
        return source[output]

    def item(self, ref: LoopItemInput) -> Any:
        loop = self.plan.loops[ref.loop]
        instance = names.instance(ref.loop, self.indexes[: loop.depth])
        items = self.state.loops[instance].items or []
        value: Any = items[self.indexes[loop.depth]]
        for depth, key in enumerate(ref.path):
            found = _field(value, key)
            if isinstance(found, _Missing):
                walked = "item" + "".join(_show(k) for k in ref.path[:depth])
                return ErrorInfo(
                    reason="MissingInput",
                    message=(
                        f"step {self.who!r} reads {walked}{_show(key)} but {walked} of "
                        f"iteration {self.indexes[loop.depth]} of loop {instance!r} is "
                        f"{_describe(value)}; make every item have it"
                    ),
                    step=self.who,
                )
            value = found
        return value


class _Missing:
    pass


def _field(value: Any, key: str | int) -> Any:
    if isinstance(key, str) and isinstance(value, dict) and key in value:
        return value[key]
    if isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value):
        return value[key]
    return _Missing()


def _show(key: str | int) -> str:
    return f".{key}" if isinstance(key, str) else f"[{key}]"


def _describe(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{type(value).__name__} {text}"
