"""The in-memory form of a runner event, independent of wire format.

The codec (:mod:`runner.events.codec`) maps it to and from CloudEvents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from runner.events.kinds import EventKind, event_id, source_for, subject_for
from runner.events.models import DATA_MODELS, _Data


class Event(BaseModel):
    """One fact about a run or a step.

    ``step`` is the CloudEvent ``subject``; ``run_id``, ``pipeline``,
    ``traceparent``, ``tracestate`` and ``auth`` are CloudEvent extensions.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: EventKind
    source: str
    run_id: str
    pipeline: str
    time: datetime
    data: _Data
    step: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    auth: str | None = None
    """The ``runnerauth`` extension: proof that an attempt's report comes from
    the attempt (see :mod:`runner.events.auth`); None when unsigned."""

    @property
    def subject(self) -> str:
        """The NATS subject this event is published on."""
        return subject_for(self.pipeline, self.run_id, self.kind)

    @property
    def type(self) -> str:
        return self.kind.type

    def data_json(self) -> dict[str, Any]:
        return self.data.model_dump(mode="json")


def make_event(
    kind: EventKind,
    *,
    run_id: str,
    pipeline: str,
    data: _Data,
    time: datetime,
    component: str = "controller",
    step: str | None = None,
    attempt: int | None = None,
    id: str | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
    auth: str | None = None,
) -> Event:
    """Build an event with its deterministic id (unless ``id`` is given)."""
    expected = DATA_MODELS[kind]
    if not isinstance(data, expected):
        raise TypeError(f"{kind.value} carries {expected.__name__}, not {type(data).__name__}")
    return Event(
        id=id or event_id(run_id, kind, step, attempt),
        kind=kind,
        source=source_for(component),
        run_id=run_id,
        pipeline=pipeline,
        time=time,
        data=data,
        step=step,
        traceparent=traceparent,
        tracestate=tracestate,
        auth=auth,
    )
