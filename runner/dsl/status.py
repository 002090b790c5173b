"""``PipelineTaskFinalStatus``: what an exit handler's task learns about what it guarded.

Annotate an argument of a component with it and use the task as the exit
task of an :class:`~runner.dsl.groups.ExitHandler`; the runner fills it in
(do not pass it). The same shape as KFP's ``dsl.PipelineTaskFinalStatus``,
with this project's names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from runner.errors import ValidationError

__all__ = ["PipelineTaskFinalStatus"]

FinalState = Literal["SUCCEEDED", "FAILED", "CANCELLED"]


@dataclass(frozen=True)
class PipelineTaskFinalStatus:
    """How the tasks inside an ``ExitHandler`` ended."""

    state: FinalState
    """``SUCCEEDED``, ``FAILED`` (a guarded task failed) or ``CANCELLED`` (the run was)."""
    run_id: str
    pipeline: str
    task: str
    """The exit task's own step name."""
    error_message: str | None = None
    """The first failure among the guarded tasks, if any."""
    error_reason: str | None = None
    failed_step: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> PipelineTaskFinalStatus:
        """Build it from the JSON object the step receives."""
        names = {f.name for f in fields(cls)}
        if not isinstance(value, dict) or not {"state", "run_id", "pipeline", "task"} <= set(value):
            raise ValidationError(
                f"a PipelineTaskFinalStatus needs state, run_id, pipeline and task, got {value!r}"
            )
        return cls(**{k: v for k, v in value.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
