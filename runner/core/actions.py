"""Actions: the effects ``decide`` asks the shell to perform.

Each action has a deterministic ``id`` so performing it twice is harmless and
the shell can confirm it by id (:func:`complete_actions`). ``decide`` appends
new actions to ``RunState.outbox``; the shell writes the state, performs the
outbox, then removes what it performed. After a controller restart,
:func:`pending_actions` is what is still to do.

Serialisation notes: the ``type`` discriminator is always dumped, even with
``exclude_defaults=True``; and :class:`PublishEvent` dumps its event's data
in full and rebuilds the concrete data model (``DATA_MODELS[kind]``) on load,
because ``Event.data`` is typed as the base data class.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_serializer,
)

from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.events.models import DATA_MODELS, ArtifactRef

if TYPE_CHECKING:
    from runner.core.state import RunState


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str

    @model_serializer(mode="wrap")
    def _keep_type(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # ``type`` has a default, so exclude_defaults would drop the discriminator
        # and the outbox could not be loaded back.
        data: dict[str, Any] = handler(self)
        data["type"] = getattr(self, "type")  # noqa: B009 - defined by each subclass
        return data


class LaunchStep(_Action):
    """Run attempt ``attempt`` of ``step`` — or publish ``step.cached`` on a verified hit.

    The shell: if ``cache_key`` is set and a verified manifest exists, publish
    ``step.cached``; otherwise launch through the executor (not before
    ``not_before``) under a name derived from run, step and attempt, and publish
    ``step.launched``. Keep a delayed launch in the outbox until it is performed:
    a cancellation removes it from there.
    """

    type: Literal["launch_step"] = "launch_step"
    run_id: str
    pipeline: str
    step: str
    attempt: int
    task: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Resolved input parameter values, by input name."""
    artifacts: dict[str, ArtifactRef | list[ArtifactRef]] = Field(default_factory=dict)
    """Resolved input artifacts, by input name (a list for a ``Collected`` input)."""
    cache_key: str | None = None
    """None when caching is off for the task or the run (``--no-cache``)."""
    not_before: datetime | None = None
    """Retry backoff: do not launch before this time."""


class PublishEvent(_Action):
    """Publish ``event`` (its id is deterministic, so a re-publish is deduplicated)."""

    type: Literal["publish_event"] = "publish_event"
    event: Event

    @field_serializer("event", mode="plain")
    def _dump_event(self, event: Event, info: SerializationInfo) -> dict[str, Any]:
        mode = "json" if info.mode_is_json() else "python"
        exclude_defaults = bool(info.exclude_defaults)
        dumped = event.model_dump(mode=mode, exclude={"data"}, exclude_defaults=exclude_defaults)
        dumped["data"] = event.data.model_dump(mode=mode, exclude_defaults=exclude_defaults)
        return dumped

    @field_validator("event", mode="before")
    @classmethod
    def _load_event(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("data"), dict):
            model = DATA_MODELS[EventKind(value["kind"])]
            value = {**value, "data": model.model_validate(value["data"])}
        return value


class StopStep(_Action):
    """Stop attempt ``attempt`` of ``step``.

    ``launch_id`` is None when the launch was issued but not yet confirmed: the
    executor then finds it by its deterministic name (run, step, attempt).
    """

    type: Literal["stop_step"] = "stop_step"
    run_id: str
    pipeline: str
    step: str
    attempt: int
    launch_id: str | None = None


Action = Annotated[LaunchStep | PublishEvent | StopStep, Field(discriminator="type")]


def launch_action_id(run_id: str, step: str, attempt: int) -> str:
    return f"launch/{run_id}/{step}/{attempt}"


def stop_action_id(run_id: str, step: str, attempt: int) -> str:
    return f"stop/{run_id}/{step}/{attempt}"


def publish_action_id(event: Event) -> str:
    return f"publish/{event.id}"


def pending_actions(state: RunState) -> list[Action]:
    """Actions decided but not yet confirmed: what a restarted shell performs."""
    return list(state.outbox)


def complete_actions(state: RunState, ids: Iterable[str]) -> RunState:
    """Remove performed actions from the outbox (unknown ids are ignored); mutates ``state``."""
    done = set(ids)
    if done:
        state.outbox = [action for action in state.outbox if action.id not in done]
    return state
