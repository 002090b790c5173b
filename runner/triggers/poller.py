"""The polling source: list a bucket every interval, fire for objects that are new.

For stores that cannot send notifications. Each poll lists the trigger's
prefix (ListObjectsV2) and fires for objects newer than the cursor
(``cursor.<trigger>`` in KV: the newest ``LastModified`` handled so far, and
which objects at exactly that time were handled, since S3 times have
one-second resolution), so a restart resumes where the last poll stopped.
The engine's dedup records are the second line of defence.
With ``start: new`` the first poll only sets the cursor: what was already in
the bucket starts nothing.

Every poll lists the whole prefix (S3 lists by key, not by time), so keep the
prefix narrow on large buckets. Errors (bucket missing, endpoint down) are
logged and counted; the next poll tries again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from runner.bus.base import KVBucket
from runner.errors import RunnerError
from runner.store.listing import BucketLister, ListedObject
from runner.triggers.engine import Fired, TriggerEngine
from runner.triggers.models import ObjectEvent, PollSource, Trigger

__all__ = ["POLL_EVENT", "Poller"]

log = logging.getLogger(__name__)

POLL_EVENT = "s3:ObjectCreated:Poll"
"""The event name of an object found by a poll (matches ``s3:ObjectCreated:*``)."""


class Poller:
    """Polls one trigger's bucket until stopped."""

    def __init__(
        self,
        trigger: Trigger,
        lister: BucketLister,
        engine: TriggerEngine,
        kv: KVBucket,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        assert isinstance(trigger.source, PollSource)
        self.trigger = trigger
        self.source: PollSource = trigger.source
        self.lister = lister
        self.engine = engine
        self.kv = kv
        self.sleep = sleep
        self.stats: dict[str, int] = dict.fromkeys(("polls", "errors", "fired"), 0)

    async def run(self) -> None:
        """Poll, wait the interval, repeat (until cancelled)."""
        while True:
            try:
                await self.poll_once()
            except RunnerError as exc:
                self.stats["errors"] += 1
                log.warning("trigger %s: poll failed: %s", self.trigger.name, exc)
            await self.sleep(self.source.interval_seconds)

    async def poll_once(self) -> int:
        """One poll; returns how many runs it requested."""
        flt = self.trigger.filter
        key = f"cursor.{self.trigger.name}"
        found = await self.kv.get(key)
        cursor = _Cursor.load(found[0]) if found else _Cursor(None, set())
        listed = [
            o
            async for o in self.lister.list(flt.bucket, flt.prefix)
            if flt.mismatch(_event(o)) is None
        ]
        self.stats["polls"] += 1
        if found is None and self.source.start == "new":
            await self._save(key, _Cursor.after(listed, None))
            return 0
        fired = 0
        handled: list[ListedObject] = [o for o in listed if not cursor.is_new(o)]
        for obj in sorted(filter(cursor.is_new, listed), key=lambda o: (o.modified, o.key)):
            result = await self.engine.fire(self.trigger, _event(obj))
            if result.outcome is Fired.DEFERRED:
                await self._save(key, _Cursor.after(handled, obj.modified))
                self.stats["fired"] += fired
                return fired  # the rest waits for the next poll
            fired += result.outcome is Fired.REQUESTED
            handled.append(obj)
        await self._save(key, _Cursor.after(handled, None))
        self.stats["fired"] += fired
        return fired

    async def _save(self, key: str, cursor: _Cursor) -> None:
        # One poller per trigger and process; two replicas polling write the same cursor.
        await self.kv.put(key, cursor.dump())


@dataclass(frozen=True)
class _Cursor:
    """The newest modification time handled, and which objects at that time were."""

    since: datetime | None
    at: set[str]

    @staticmethod
    def _id(obj: ListedObject) -> str:
        return f"{obj.key}\n{obj.etag}"

    def is_new(self, obj: ListedObject) -> bool:
        if self.since is None or obj.modified > self.since:
            return True
        return obj.modified == self.since and self._id(obj) not in self.at

    @classmethod
    def after(cls, handled: list[ListedObject], until: datetime | None) -> _Cursor:
        """The cursor once ``handled`` are done; ``until`` caps it (a deferred object)."""
        times = [o.modified for o in handled if until is None or o.modified <= until]
        since = max(times, default=None)
        if until is not None:
            since = until
        return cls(since, {cls._id(o) for o in handled if o.modified == since})

    @classmethod
    def load(cls, raw: bytes) -> _Cursor:
        try:
            value = json.loads(raw)
            since = datetime.fromisoformat(value["since"]) if value.get("since") else None
            return cls(since, set(value.get("at", [])))
        except (ValueError, AttributeError, KeyError, TypeError):
            return cls(None, set())

    def dump(self) -> bytes:
        since = self.since.isoformat() if self.since else None
        return json.dumps({"since": since, "at": sorted(self.at)}).encode()


def _event(obj: ListedObject) -> ObjectEvent:
    return ObjectEvent(
        bucket=obj.bucket,
        key=obj.key,
        event_name=POLL_EVENT,
        size=obj.size,
        etag=obj.etag,
        time=obj.modified,
    )
