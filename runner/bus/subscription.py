"""``bus.subscribe(...)``: an async iterator of events over any :class:`Consumer`.

Shared by :class:`~runner.bus.client.NatsBus` and
:class:`~runner.bus.memory.MemoryBus`, so both iterate, acknowledge and clean
up the same way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from runner.bus.base import Consumer, Delivery
from runner.errors import RunnerError
from runner.events.envelope import Event

__all__ = ["SUBSCRIBE_BATCH", "iterate_events"]

log = logging.getLogger(__name__)

SUBSCRIBE_BATCH = 64
"""Messages fetched at once; for a durable subscription also its most
un-acknowledged messages, so it never runs ahead of what it acknowledged."""
_IDLE_FETCH_SECONDS = 1.0


async def iterate_events(
    open_consumer: Callable[[], Awaitable[Consumer]],
    *,
    acking: bool,
    on_undecodable: Callable[[Delivery], None],
) -> AsyncIterator[Event]:
    """Events in stream order from the consumer ``open_consumer`` makes.

    With ``acking`` (a durable subscription) each event is acknowledged when
    the next one is requested, and undecodable messages are terminated. When
    the iterator is closed, fetched-but-unacknowledged messages are nak'ed so
    that the next subscription with the same durable name gets them at once,
    in order: delivery is at-least-once, and the event being handled when the
    iterator was closed comes again.
    """
    consumer = await open_consumer()
    pending: list[Delivery] = []
    try:
        while True:
            pending = await consumer.fetch(SUBSCRIBE_BATCH, _IDLE_FETCH_SECONDS)
            while pending:
                delivery = pending[0]
                if delivery.event is None:
                    on_undecodable(delivery)
                    if acking:
                        await delivery.term()
                else:
                    yield delivery.event
                    if acking:
                        await delivery.ack()
                pending.pop(0)
    finally:
        await _release(consumer, pending if acking else [])


async def _release(consumer: Consumer, unacked: list[Delivery]) -> None:
    """Best effort: the connection may be gone already when an iterator is closed."""
    try:
        for delivery in unacked:
            await delivery.nak()
        await consumer.close()
    except RunnerError as exc:
        log.warning("closing a subscription: %s", exc)
