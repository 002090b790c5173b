"""From (trigger, object) to a ``run.requested`` event with a deterministic identity.

The request key is (40 hex of) the sha256 of the trigger's uid, the bucket, the key and
the object version (version id, else ETag, else sequencer). The run id is
``<trigger>-<first 20 hex of the key>`` and the event id
``<run id>/run.requested``, so the same object version always makes the
same event: JetStream drops a repeat inside its dedup window, the
controller ignores a second request for a run it knows, and the trigger's
durable record (keyed by the same hash) stops it before it is published.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from pydantic import JsonValue

from runner.errors import ValidationError
from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import RunRequested
from runner.spec.models import ParameterDecl
from runner.spec.params import fits, missing_parameters, no_such_parameter
from runner.triggers.models import ObjectEvent, Trigger
from runner.triggers.templates import Template, namespace, render_parameters

__all__ = [
    "build_request",
    "check_parameters",
    "request_key",
    "run_id_for",
    "sample_object",
]

_KEY_HEX = 40
_RUN_HEX = 20


def request_key(trigger: Trigger, obj: ObjectEvent) -> str:
    """40 hex of a sha256 identifying one object version for one trigger (a KV key
    part is at most 63 characters; 160 bits are plenty against collisions)."""
    identity = [trigger.uid, obj.bucket, obj.key, obj.version]
    digest = hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()
    return digest[:_KEY_HEX]


def run_id_for(trigger: Trigger, key: str) -> str:
    return f"{trigger.name}-{key[:_RUN_HEX]}"


def build_request(trigger: Trigger, obj: ObjectEvent, key: str, now: datetime) -> Event:
    """The ``run.requested`` event this trigger publishes for ``obj``."""
    pipeline = trigger.pipeline
    params = render_parameters(trigger.parameters, namespace(obj, trigger.name, now))
    return make_event(
        EventKind.RUN_REQUESTED,
        run_id=run_id_for(trigger, key),
        pipeline=pipeline.name,
        component=trigger.requested_by,
        time=now,
        data=RunRequested(
            pipeline=pipeline.name,
            pipeline_digest=pipeline.digest,
            spec_uri=pipeline.spec_uri,
            code=pipeline.code,
            parameters=params,
            no_cache=trigger.no_cache,
            experiment=trigger.experiment,
            requested_by=trigger.requested_by,
            labels={"trigger": trigger.name, "object": obj.uri[:1024]},
        ),
    )


def sample_object(bucket: str, prefix: str = "") -> ObjectEvent:
    """A plausible object, to check templates when a trigger is added."""
    return ObjectEvent(
        bucket=bucket,
        key=f"{prefix}sample.csv",
        event_name="s3:ObjectCreated:Put",
        size=1,
        etag="0" * 32,
    )


def check_parameters(
    pipeline: str,
    declared: list[ParameterDecl],
    parameters: Mapping[str, JsonValue],
    sample: Mapping[str, JsonValue],
) -> None:
    """Names known, required ones given, templates valid, rendered types right."""
    decls = {d.name: d for d in declared}
    for name, value in parameters.items():
        decl = decls.get(name)
        if decl is None:
            raise ValidationError(no_such_parameter(pipeline, declared, name))
        rendered = value
        if isinstance(value, str):
            rendered = Template.compile(value, f"parameter {name!r}").render(sample)
        if not fits(decl, rendered):
            raise ValidationError(
                f"parameter {name!r} of pipeline {pipeline!r} is {decl.type.value} but "
                f"{value!r} gives {type(rendered).__name__} (e.g. {rendered!r}); use a "
                "template whose whole value is one expression to keep its type, like "
                "'{{ object.size }}'"
            )
    missing = missing_parameters(declared, parameters)
    if missing:
        first = missing[0].name
        raise ValidationError(
            f"pipeline {pipeline!r} needs parameter {first!r}: pass it, e.g. "
            f"--param {first}='{{{{ object.uri }}}}'"
        )
