"""Notification feeds: read one NATS subject and hand each message to the engine.

One feed per (stream, subject) serves every trigger that reads that subject,
so a notification is parsed once, and one that no trigger wants is
dead-lettered once. On JetStream the feed is a durable consumer
(``trigger-feed-<hash>``) created with "deliver new": notifications that
arrive while runner is down wait in the stream, and a message is acked only
after it was handled (a limit's "not now" is a nak with that delay). On core
NATS there is nothing to ack or replay: a deferred message is held and tried
again after the delay.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from runner.bus.base import Bus, Consumer, Delivery
from runner.errors import RunnerError, TransientError
from runner.triggers.engine import TriggerEngine
from runner.triggers.models import NOTIFICATIONS_STREAM, NatsSource, Trigger

__all__ = ["FeedKey", "NotificationFeed"]

log = logging.getLogger(__name__)

FETCH_BATCH = 16
FETCH_TIMEOUT = 1.0
RECONNECT_SECONDS = 2.0


@dataclass(frozen=True)
class FeedKey:
    """What a feed reads: a subject on JetStream (in a stream) or on core NATS."""

    subject: str
    stream: str | None
    """None: core NATS."""

    @classmethod
    def of(cls, source: NatsSource) -> FeedKey:
        if not source.jetstream:
            return cls(source.subject, None)
        return cls(source.subject, source.stream or NOTIFICATIONS_STREAM)

    @property
    def durable(self) -> str:
        digest = hashlib.sha256(f"{self.stream}\n{self.subject}".encode()).hexdigest()
        return f"trigger-feed-{digest[:12]}"

    def __str__(self) -> str:
        where = f"stream {self.stream}" if self.stream else "core NATS"
        return f"{self.subject} ({where})"


class NotificationFeed:
    """Consumes one feed until cancelled; ``triggers()`` gives the current triggers."""

    def __init__(
        self,
        key: FeedKey,
        bus: Bus,
        engine: TriggerEngine,
        triggers: Callable[[], Iterable[Trigger]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.key = key
        self.bus = bus
        self.engine = engine
        self.triggers = triggers
        self.sleep = sleep
        self.ready = asyncio.Event()
        """Set once the consumer exists: from then on nothing published is missed."""

    async def _open(self) -> Consumer:
        if self.key.stream is None:
            return await self.bus.core_consumer(self.key.subject)
        return await self.bus.stream_consumer(
            self.key.stream, self.key.durable, self.key.subject, deliver="new"
        )

    async def run(self) -> None:
        while True:
            try:
                consumer = await self._open()
            except TransientError as exc:
                log.warning("notifications %s: %s; retrying", self.key, exc)
                await self.sleep(RECONNECT_SECONDS)
                continue
            self.ready.set()
            try:
                await self._consume(consumer)
            except TransientError as exc:
                log.warning("notifications %s: %s; reconnecting", self.key, exc)
                await self.sleep(RECONNECT_SECONDS)
            finally:
                try:
                    await consumer.close()
                except RunnerError as exc:
                    log.debug("closing %s: %s", self.key, exc)

    async def _consume(self, consumer: Consumer) -> None:
        while True:
            for delivery in await consumer.fetch(FETCH_BATCH, FETCH_TIMEOUT):
                await self._handle(delivery)

    def _reads_here(self, trigger: Trigger) -> bool:
        source = trigger.source
        return isinstance(source, NatsSource) and FeedKey.of(source) == self.key

    async def _handle(self, delivery: Delivery) -> None:
        while True:
            matching = [t for t in self.triggers() if self._reads_here(t)]
            retry_after = await self.engine.handle_notification(
                delivery.subject, delivery.body, delivery.headers, matching
            )
            if retry_after is None:
                await delivery.ack()
                return
            if self.key.stream is not None:
                await delivery.nak(retry_after)
                return
            await self.sleep(retry_after)  # core NATS cannot redeliver: hold it
