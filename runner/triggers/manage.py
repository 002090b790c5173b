"""Managing triggers and sinks: build, check, store, list, preview.

The functions the CLI (``runner trigger ...``, ``runner sink ...``) calls;
usable from Python as well. :func:`new_trigger` validates everything a
trigger can get wrong before it is stored (name, filters, subject, template
syntax, parameter names and types, required parameters), so a stored trigger
does not fail later on its first object. :func:`preview` is ``runner trigger
test``: which objects would match and with which parameters.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, JsonValue

from runner.bus.base import Bus, KVBucket
from runner.errors import ValidationError
from runner.records.pipelines import PipelineRef
from runner.store.listing import BucketLister
from runner.triggers.definitions import SEEN_BUCKET, Definitions, definitions_bucket
from runner.triggers.engine import record_status
from runner.triggers.models import (
    Limits,
    NatsSource,
    ObjectEvent,
    ObjectFilter,
    PollSource,
    Trigger,
    validate_trigger_name,
)
from runner.triggers.poller import POLL_EVENT
from runner.triggers.requests import (
    check_parameters,
    request_key,
    run_id_for,
    sample_object,
)
from runner.triggers.sink import Sink
from runner.triggers.templates import namespace, render_parameters

__all__ = [
    "Preview",
    "checked",
    "list_bucket",
    "new_trigger",
    "preview",
    "seen_bucket",
    "sink_definitions",
    "trigger_definitions",
]


M = TypeVar("M", bound=BaseModel)


def checked(model: type[M], what: str, **fields: Any) -> M:
    """``model(**fields)``, with pydantic's complaint turned into a ValidationError
    that names the field and the value (what a CLI user can fix)."""
    try:
        return model(**fields)
    except pydantic.ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"]) or "value"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ValidationError(
            f"{what}: {field} {error.get('input')!r} is invalid: {message}"
        ) from None


async def trigger_definitions(bus: Bus) -> Definitions[Trigger]:
    return Definitions(await definitions_bucket(bus), "trigger", Trigger)


async def sink_definitions(bus: Bus) -> Definitions[Sink]:
    return Definitions(await definitions_bucket(bus), "sink", Sink)


async def seen_bucket(bus: Bus) -> KVBucket:
    return await bus.kv_bucket(SEEN_BUCKET, description="objects triggers have seen")


def new_trigger(
    name: str,
    pipeline: PipelineRef,
    filter: ObjectFilter,
    *,
    parameters: Mapping[str, JsonValue] | None = None,
    source: NatsSource | PollSource | None = None,
    experiment: str = "default",
    limits: Limits | None = None,
    enabled: bool = True,
    no_cache: bool = False,
) -> Trigger:
    """A checked trigger with a fresh uid (see the module doc)."""
    validate_trigger_name(name)
    source = source or NatsSource()
    if isinstance(source, NatsSource):
        source.check()
    params = dict(parameters or {})
    sample = namespace(sample_object(filter.bucket, filter.prefix), name, _EPOCH)
    check_parameters(pipeline.name, pipeline.parameters, params, sample)
    return checked(
        Trigger,
        f"trigger {name!r}",
        name=name,
        uid=secrets.token_hex(8),
        pipeline=pipeline,
        source=source,
        filter=filter,
        parameters=params,
        experiment=experiment,
        enabled=enabled,
        limits=limits or Limits(),
        no_cache=no_cache,
    )


_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


@dataclass(frozen=True)
class Preview:
    """What a trigger would do with one object."""

    object: ObjectEvent
    mismatch: str | None
    """Why it would not start a run (None: it would)."""
    parameters: dict[str, JsonValue]
    run_id: str
    already_requested: bool

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "uri": self.object.uri,
            "matches": self.mismatch is None,
            "mismatch": self.mismatch,
            "parameters": self.parameters,
            "run_id": self.run_id,
            "already_requested": self.already_requested,
        }


async def preview(
    trigger: Trigger, objects: list[ObjectEvent], seen: KVBucket | None, now: datetime
) -> list[Preview]:
    out = []
    for obj in objects:
        key = request_key(trigger, obj)
        record = await seen.get(f"{trigger.name}.{key}") if seen is not None else None
        already = record is not None and record_status(record[0]) == "requested"
        out.append(
            Preview(
                object=obj,
                mismatch=trigger.filter.mismatch(obj),
                parameters=render_parameters(trigger.parameters, namespace(obj, trigger.name, now)),
                run_id=run_id_for(trigger, key),
                already_requested=already,
            )
        )
    return out


async def list_bucket(trigger: Trigger, lister: BucketLister, limit: int) -> list[ObjectEvent]:
    """Up to ``limit`` objects under the trigger's prefix, as a poll would see them."""
    found: list[ObjectEvent] = []
    listing = lister.list(trigger.filter.bucket, trigger.filter.prefix)
    async for listed in listing:
        found.append(
            ObjectEvent(
                bucket=listed.bucket,
                key=listed.key,
                event_name=POLL_EVENT,
                size=listed.size,
                etag=listed.etag,
                time=listed.modified,
            )
        )
        if len(found) >= limit:
            await listing.aclose()  # type: ignore[attr-defined]
            break
    return found
