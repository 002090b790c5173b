"""The outside world: bucket triggers in, run events out (DESIGN §10).

Triggers start a run when an object lands in a bucket, from S3 event
notifications on NATS (how MinIO notifies) or by polling any S3-compatible
store; each object version starts at most one run. Sinks deliver run events
to HTTP endpoints as CloudEvents. Definitions live in a JetStream KV bucket;
:class:`TriggerService` runs them inside ``runner up``, the in-cluster
controller, or ``runner triggers``. See ``docs/triggers.md``.
"""

from runner.records.pipelines import PipelineRef, PipelineResolver
from runner.triggers.engine import NOTIFICATION_DEAD_LETTERS, Fired, FireResult, TriggerEngine
from runner.triggers.manage import (
    Preview,
    list_bucket,
    new_trigger,
    preview,
    seen_bucket,
    sink_definitions,
    trigger_definitions,
)
from runner.triggers.models import (
    DEFAULT_SUBJECT,
    NOTIFICATION_SUBJECTS,
    NOTIFICATIONS_STREAM,
    Limits,
    NatsSource,
    ObjectEvent,
    ObjectFilter,
    PollSource,
    Trigger,
)
from runner.triggers.notifications import NotificationError, parse_notification
from runner.triggers.pipelines import freeze_pipeline
from runner.triggers.service import TriggerService
from runner.triggers.sink import Sink, sink_dead_letter_subject
from runner.triggers.templates import Template, TemplateError

__all__ = [
    "DEFAULT_SUBJECT",
    "NOTIFICATIONS_STREAM",
    "NOTIFICATION_DEAD_LETTERS",
    "NOTIFICATION_SUBJECTS",
    "FireResult",
    "Fired",
    "Limits",
    "NatsSource",
    "NotificationError",
    "ObjectEvent",
    "ObjectFilter",
    "PipelineRef",
    "PipelineResolver",
    "PollSource",
    "Preview",
    "Sink",
    "Template",
    "TemplateError",
    "Trigger",
    "TriggerEngine",
    "TriggerService",
    "freeze_pipeline",
    "list_bucket",
    "new_trigger",
    "parse_notification",
    "preview",
    "seen_bucket",
    "sink_dead_letter_subject",
    "sink_definitions",
    "trigger_definitions",
]
