"""Firing triggers: one run per object version, and what to do with notifications.

:meth:`TriggerEngine.fire` is the one place a trigger starts a run. Its
order of steps makes it effectively-once even across crashes and replicas:

1. the durable record ``<trigger>.<request key>`` in the seen bucket says
   ``requested``: a duplicate, nothing to do;
2. the limits say "not now": deferred, nothing written;
3. the record is created as ``pending`` (compare-and-set: of two replicas,
   one wins; the other finds the record and stops or, if it is still
   pending, publishes the same deterministic event, which is harmless);
4. ``run.requested`` is published (``Nats-Msg-Id`` = its deterministic id);
5. the record becomes ``requested``.

A crash between 3 and 5 leaves a ``pending`` record; the redelivered
notification publishes again and JetStream (or the controller, which knows
the run) drops the repeat.

:meth:`TriggerEngine.handle_notification` parses one notification, fires
every enabled trigger whose filter matches each object and dead-letters what
it could not use: unreadable documents, unusable records, objects no enabled
trigger wants (unknown bucket, key outside the filters). Events whose name no
trigger on the subject listens to (a delete, when triggers react to
creations) are only counted as ``ignored``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from runner.bus.base import Bus, KVBucket
from runner.bus.dead_letters import log_reason
from runner.errors import ConflictError
from runner.triggers.limits import RunLimiter
from runner.triggers.models import ObjectEvent, Trigger
from runner.triggers.notifications import NotificationError, parse_notification
from runner.triggers.requests import build_request, request_key, run_id_for

__all__ = [
    "NOTIFICATION_DEAD_LETTERS",
    "Fired",
    "FireResult",
    "TriggerEngine",
    "now_utc",
    "record_status",
]

log = logging.getLogger(__name__)

NOTIFICATION_DEAD_LETTERS = "runner.deadletter.notifications"
"""Where unusable bucket notifications go (stored by the dead-letter stream)."""

_COUNTERS = (
    "notifications",
    "requested",
    "duplicates",
    "deferred",
    "bad_notifications",
    "unmatched",
    "ignored",
    "dead_letters",
)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Fired(StrEnum):
    REQUESTED = "requested"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class FireResult:
    outcome: Fired
    run_id: str
    retry_after: float | None = None


class TriggerEngine:
    """Fires triggers for objects; shared by notification feeds and pollers."""

    def __init__(
        self,
        bus: Bus,
        seen: KVBucket,
        limiter: RunLimiter,
        *,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.bus = bus
        self.seen = seen
        self.limiter = limiter
        self.clock = clock
        self.stats: dict[str, int] = dict.fromkeys(_COUNTERS, 0)

    async def fire(self, trigger: Trigger, obj: ObjectEvent) -> FireResult:
        """Request a run for ``obj`` unless this object version already has one."""
        key = request_key(trigger, obj)
        run_id = run_id_for(trigger, key)
        record_key = f"{trigger.name}.{key}"
        found = await self.seen.get(record_key)
        if found is not None and record_status(found[0]) == "requested":
            self.stats["duplicates"] += 1
            log.debug("trigger %s: %s already requested run %s", trigger.name, obj.uri, run_id)
            return FireResult(Fired.DUPLICATE, run_id)
        now = self.clock()
        if found is None:
            delay = await self.limiter.delay(trigger, now)
            if delay is not None:
                self.stats["deferred"] += 1
                return FireResult(Fired.DEFERRED, run_id, delay)
            try:
                revision = await self.seen.create(record_key, _record("pending", run_id, obj))
            except ConflictError:
                return await self.fire(trigger, obj)  # another replica got there first
        else:
            revision = found[1]
        await self.bus.publish(build_request(trigger, obj, key, now))
        with contextlib.suppress(ConflictError):  # another replica finished the same request
            await self.seen.update(record_key, _record("requested", run_id, obj), revision)
        await self.limiter.started(trigger, run_id, now)
        self.stats["requested"] += 1
        log.info("trigger %s: %s -> run %s", trigger.name, obj.uri, run_id)
        return FireResult(Fired.REQUESTED, run_id)

    async def handle_notification(
        self, subject: str, body: bytes, headers: Mapping[str, str], triggers: Iterable[Trigger]
    ) -> float | None:
        """Fire what matches; returns a delay when a limit wants the message again later."""
        self.stats["notifications"] += 1
        try:
            parsed = parse_notification(body)
        except NotificationError as exc:
            self.stats["bad_notifications"] += 1
            await self._dead_letter(subject, body, headers, str(exc))
            return None
        stored = list(triggers)
        enabled = [t for t in stored if t.enabled]
        problems = list(parsed.problems)
        if problems:
            self.stats["bad_notifications"] += 1
        retry_after: float | None = None
        for obj in parsed.objects:
            if not any(t.filter.wants_event(obj.event_name) for t in stored):
                # e.g. a delete when triggers react to creations: not a mistake, no letter
                self.stats["ignored"] += 1
                continue
            matching = [t for t in enabled if t.filter.mismatch(obj) is None]
            if not matching:
                self.stats["unmatched"] += 1
                problems.append(_unmatched(obj, enabled))
            for trigger in matching:
                result = await self.fire(trigger, obj)
                if result.retry_after is not None:
                    retry_after = max(retry_after or 0.0, result.retry_after)
        if problems and retry_after is None:  # a deferred message comes back: report it then
            await self._dead_letter(subject, body, headers, "; ".join(problems))
        return retry_after

    async def _dead_letter(
        self, subject: str, body: bytes, headers: Mapping[str, str], reason: str
    ) -> None:
        await self.bus.dead_letter(subject, body, headers, reason, to=NOTIFICATION_DEAD_LETTERS)
        self.stats["dead_letters"] += 1
        log.warning("dead-lettered a notification from %s: %s", subject, log_reason(reason))


def _unmatched(obj: ObjectEvent, enabled: list[Trigger]) -> str:
    if not enabled:
        return f"{obj.uri}: no enabled trigger reads this subject"
    reasons = "; ".join(f"{t.name}: {t.filter.mismatch(obj)}" for t in enabled[:3])
    return f"{obj.uri} matches no enabled trigger ({reasons})"


def _record(status: str, run_id: str, obj: ObjectEvent) -> bytes:
    return json.dumps({"status": status, "run_id": run_id, "object": obj.uri}).encode()


def record_status(raw: bytes) -> str | None:
    """``pending`` or ``requested`` from a seen record (None if unreadable)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value.get("status") if isinstance(value, dict) else None
