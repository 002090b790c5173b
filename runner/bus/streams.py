"""JetStream topology: the events stream, the dead-letter stream, the run-state KV.

``ensure_*`` are idempotent: they read the server's current configuration and
create what is missing or update what differs from the settings, leaving any
other setting an operator made on the stream alone. A second call with the
same settings changes nothing.
"""

from __future__ import annotations

import logging
from typing import Literal

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.kv import KeyValue

from runner.config import NatsSettings
from runner.errors import BusError
from runner.events.kinds import STREAM_SUBJECTS

__all__ = [
    "DEAD_LETTER_SUBJECTS",
    "MAX_VALUE_BYTES",
    "Outcome",
    "dead_letter_stream_config",
    "dead_letter_stream_name",
    "ensure_kv",
    "ensure_stream",
    "events_stream_config",
    "stream_config",
]

log = logging.getLogger(__name__)

DEAD_LETTER_SUBJECTS = "runner.deadletter.>"
MAX_VALUE_BYTES = 8 * 1024 * 1024
"""Largest run-state value: a 10,000-step run's state is several hundred KB.
The embedded server's ``max_payload`` matches it; an external server must set
``max_payload: 8MB`` too, or the bucket is capped at the server's limit."""

Outcome = Literal["created", "updated", "unchanged"]
_OVERLAP = 10065  # JSStreamSubjectOverlapErr
_MANAGED = ("subjects", "retention", "max_age", "duplicate_window", "discard", "max_msg_size")


def dead_letter_stream_name(settings: NatsSettings) -> str:
    return f"{settings.stream}_DEADLETTER"


def stream_config(
    settings: NatsSettings, name: str, subjects: list[str], description: str
) -> StreamConfig:
    """How every stream runner manages is kept: file storage, limits retention with
    the configured age and duplicate window, oldest messages discarded first."""
    return StreamConfig(
        name=name,
        description=description,
        subjects=list(subjects),
        retention=RetentionPolicy.LIMITS,
        max_age=settings.stream_max_age_seconds,
        duplicate_window=settings.duplicate_window_seconds,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        max_msg_size=-1,
    )


def events_stream_config(settings: NatsSettings) -> StreamConfig:
    return stream_config(
        settings, settings.stream, [STREAM_SUBJECTS],
        "runner events: the audit log and replay source",
    )  # fmt: skip


def dead_letter_stream_config(settings: NatsSettings) -> StreamConfig:
    return stream_config(
        settings, dead_letter_stream_name(settings), [DEAD_LETTER_SUBJECTS],
        "runner dead letters: messages that could not be processed",
    )  # fmt: skip


async def ensure_stream(js: JetStreamContext, wanted: StreamConfig) -> Outcome:
    """Create the stream, or bring its managed settings in line with ``wanted``."""
    assert wanted.name is not None
    try:
        info = await js.stream_info(wanted.name)
    except nats.js.errors.NotFoundError:
        await _add_stream(js, wanted)
        log.info("created JetStream stream %s", wanted.name)
        return "created"
    current = info.config
    if current.storage != wanted.storage:
        raise BusError(
            f"stream {wanted.name} uses {current.storage} storage but runner wants "
            f"{wanted.storage}; storage cannot change in place: back it up and delete it "
            "(nats stream rm), then start runner again"
        )
    changes = {f: getattr(wanted, f) for f in _MANAGED if _differs(current, wanted, f)}
    if not changes:
        return "unchanged"
    await js.update_stream(current.evolve(**changes))
    log.info("updated JetStream stream %s: %s", wanted.name, ", ".join(sorted(changes)))
    return "updated"


async def _add_stream(js: JetStreamContext, wanted: StreamConfig) -> None:
    try:
        await js.add_stream(wanted)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != _OVERLAP:
            raise
        subjects = ", ".join(wanted.subjects or [])
        raise BusError(
            f"cannot create stream {wanted.name}: another stream already stores {subjects} "
            "on this server; set RUNNER_NATS_STREAM to that stream's name, or delete it "
            "(nats stream rm)"
        ) from exc


def _differs(current: StreamConfig, wanted: StreamConfig, field: str) -> bool:
    have, want = getattr(current, field), getattr(wanted, field)
    if field in ("max_age", "duplicate_window"):
        # The server stores nanoseconds; compare at millisecond precision.
        return abs(float(have or 0) - float(want or 0)) > 1e-3
    if field == "subjects":
        return sorted(have or []) != sorted(want or [])
    return bool(have != want)


async def ensure_kv(
    js: JetStreamContext, bucket: str, max_value_size: int
) -> tuple[KeyValue, Outcome]:
    """The run-state bucket: one revision per key (history 1), file storage."""
    stream = f"KV_{bucket}"
    try:
        info = await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        kv = await js.create_key_value(
            bucket=bucket,
            description="runner run state",
            history=1,
            max_value_size=max_value_size,
            storage=StorageType.FILE,
        )
        log.info("created JetStream KV bucket %s", bucket)
        return kv, "created"
    config = info.config
    outcome: Outcome = "unchanged"
    if config.max_msg_size != max_value_size or config.max_msgs_per_subject != 1:
        await js.update_stream(config.evolve(max_msg_size=max_value_size, max_msgs_per_subject=1))
        log.info("updated JetStream KV bucket %s", bucket)
        outcome = "updated"
    return await js.key_value(bucket), outcome
