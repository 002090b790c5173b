"""Delivering one sink's events: a durable consumer, one ordered lane per run.

The sink's durable pull consumer (``sink-<name>``) on the events stream
starts with the events published after it was first created (not the
stream's history) and survives restarts: what was not acknowledged is
delivered again, and what was published meanwhile is delivered then. Events are
routed to a lane per run; a lane delivers its events one at a time, in
stream order, and acks each only once it was delivered or dead-lettered, so
a retrying event holds back the later events of its run but not of others.

An event the server delivers again while its lane still holds it (its ack
wait ran out during retries) is not queued twice: the lane keeps the newest
delivery handle and acks that one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from runner.bus.base import Bus, Delivery
from runner.bus.dead_letters import log_reason
from runner.errors import RunnerError, TransientError
from runner.events.envelope import Event
from runner.triggers.sink import (
    HttpSender,
    Sink,
    Verdict,
    backoff_seconds,
    binary_request,
    classify,
    sink_dead_letter_subject,
)

__all__ = ["SinkWorker"]

log = logging.getLogger(__name__)

FETCH_BATCH = 64
MAX_HELD = 512
"""Events held in lanes at most; fetching pauses above it."""
ACK_WAIT_SECONDS = 60.0


class SinkWorker:
    """Delivers one sink's events until cancelled."""

    def __init__(
        self,
        sink: Sink,
        bus: Bus,
        sender: HttpSender,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        ready: asyncio.Event | None = None,
    ) -> None:
        self.sink = sink
        self.bus = bus
        self.sender = sender
        self.sleep = sleep
        self.ready = ready or asyncio.Event()
        """Set once the consumer exists: events published from then on are delivered."""
        self.stats: dict[str, int] = dict.fromkeys(
            ("delivered", "retries", "dead_letters", "attempts"), 0
        )
        self._held: dict[str, Delivery] = {}
        """event id -> newest delivery of it, while a lane holds it."""
        self._queues: dict[str, deque[str]] = {}
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._room = asyncio.Event()

    async def run(self) -> None:
        consumer = await self.bus.pull_consumer(
            self.sink.durable, self.sink.subject, ack_wait=ACK_WAIT_SECONDS, deliver="new"
        )
        self.ready.set()
        try:
            while True:
                while len(self._held) >= MAX_HELD:
                    self._room.clear()
                    await self._room.wait()
                for delivery in await consumer.fetch(FETCH_BATCH, 1.0):
                    await self._route(delivery)
        finally:
            lanes = list(self._lanes.values())
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            with contextlib.suppress(RunnerError):
                await consumer.close()

    async def _route(self, delivery: Delivery) -> None:
        event = delivery.event
        if event is None:
            await delivery.term()  # not a runner event; the controller dead-letters those
            return
        if event.id in self._held:
            self._held[event.id] = delivery
            return
        self._held[event.id] = delivery
        self._queues.setdefault(event.run_id, deque()).append(event.id)
        if event.run_id not in self._lanes:
            self._lanes[event.run_id] = asyncio.create_task(
                self._lane(event.run_id), name=f"sink:{self.sink.name}:{event.run_id}"
            )

    async def _lane(self, run_id: str) -> None:
        queue = self._queues[run_id]
        try:
            while queue:
                delivery = self._held[queue[0]]
                assert delivery.event is not None
                await self._deliver(delivery.event, delivery)
                event_id = queue.popleft()
                await self._held.pop(event_id).ack()
                self._room.set()
        except RunnerError as exc:
            # Unacked: the server delivers them again after the ack wait.
            log.warning("sink %s: run %s: %s", self.sink.name, run_id, exc)
            for event_id in queue:
                self._held.pop(event_id, None)
            self._room.set()
        finally:
            self._queues.pop(run_id, None)
            self._lanes.pop(run_id, None)

    async def _deliver(self, event: Event, delivery: Delivery) -> None:
        sink = self.sink
        headers, body = binary_request(event)
        reason = ""
        for attempt in range(1, sink.max_attempts + 1):
            self.stats["attempts"] += 1
            try:
                status = await self.sender.post(sink.url, headers, body, sink.timeout_seconds)
            except TransientError as exc:
                verdict, last = Verdict.RETRY, str(exc)
            else:
                verdict, last = classify(status), f"HTTP {status}"
            if verdict is Verdict.DELIVERED:
                self.stats["delivered"] += 1
                return
            if verdict is Verdict.GIVE_UP:
                reason = f"{sink.url} answered {last}: not retried (only 408, 429 and 5xx are)"
                break
            reason = f"{attempt} attempt(s) to deliver to {sink.url} failed; last: {last}"
            if attempt < sink.max_attempts:
                self.stats["retries"] += 1
                await self.sleep(backoff_seconds(sink, attempt))
        await self._dead_letter(delivery, reason)

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        # Its own dedup id: the event's id is taken in the dead-letter stream by
        # any other sink (or the controller) that dead-letters the same event.
        msg_id = None if delivery.event is None else f"{delivery.event.id}/sink/{self.sink.name}"
        await self.bus.dead_letter(
            delivery.subject,
            delivery.body,
            delivery.headers,
            reason,
            to=sink_dead_letter_subject(self.sink.name),
            msg_id=msg_id,
        )
        self.stats["dead_letters"] += 1
        log.warning(
            "sink %s: dead-lettered %s: %s", self.sink.name, delivery.subject, log_reason(reason)
        )
