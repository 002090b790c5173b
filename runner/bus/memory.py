""":class:`MemoryBus`: an in-process :class:`~runner.bus.base.Bus` for unit tests.

It keeps JetStream's semantics that the controller depends on, so a test
that passes against it means the same against NATS:

- messages are stored once and encoded exactly as on NATS (structured
  CloudEvents), and consumers decode them the same way;
- a ``Nats-Msg-Id`` seen within the dedup window is dropped (counted in
  ``stats["duplicates"]``);
- durable pull consumers keep their position, redeliver on ``nak`` (after
  its delay) and when ``ack_wait`` expires, stop on ``term``, and share
  messages between handles of the same name;
- KV revisions come from one counter per bucket; a create of an existing
  key or an update at a stale revision raises :class:`ConflictError`.

KV buckets (run state is one of them), raw streams and core subscriptions
live in :mod:`runner.bus.memory_feeds`; consumers (:mod:`runner.bus.memory_consumer`)
see the bus only through a stream's message list and :attr:`MemoryBus.changes`.

It also exposes what tests want to look at: :attr:`messages`,
:attr:`dead_letters` and :attr:`buckets`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from runner.bus.base import (
    Deliver,
    Delivery,
    header_value,
    subject_matches,
)
from runner.bus.dead_letters import (
    check_dead_letter_subject,
    dead_letter_headers,
    publish_dead_letter,
)
from runner.bus.memory_consumer import Changes, ConsumerState, MemoryConsumer, StoredMessage
from runner.bus.memory_feeds import MemoryCoreConsumer, MemoryKV, RawStream
from runner.bus.streams import DEAD_LETTER_SUBJECTS
from runner.bus.subscription import SUBSCRIBE_BATCH, iterate_events
from runner.config import NatsSettings
from runner.errors import BusError, BusUnavailableError
from runner.events.codec import MSG_ID_HEADER, encode
from runner.events.envelope import Event
from runner.events.kinds import DEAD_LETTER_SUBJECT, STREAM_SUBJECTS, validate_name

__all__ = ["MemoryBus", "StoredMessage"]

EVENTS_STREAM = str(NatsSettings.model_fields["stream"].default)
"""The events stream's name, as on NATS by default (for ``Nats-Expected-Stream``)."""
DEAD_LETTER_STREAM = f"{EVENTS_STREAM}_DEADLETTER"
EXPECTED_STREAM_HEADER = "Nats-Expected-Stream"
STATE_BUCKET = str(NatsSettings.model_fields["state_bucket"].default)
"""The run-state bucket's name, as on NATS by default."""


class MemoryBus:
    """A faithful fake of :class:`~runner.bus.client.NatsBus`; see the module doc."""

    url = "memory://"

    def __init__(
        self,
        *,
        duplicate_window: float = 120.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.duplicate_window = duplicate_window
        self.messages: list[StoredMessage] = []
        """The events stream, in order (sequence = index + 1)."""
        self.dead_letters: list[StoredMessage] = []
        self.stats: dict[str, int] = dict.fromkeys(
            ("published", "duplicates", "dead_letters", "decode_failures"), 0
        )
        self._ensured = False
        self._closed = False
        self._seen: dict[str, float] = {}
        self._dead_seen: dict[str, float] = {}
        self._consumers: dict[str, ConsumerState] = {}
        self.changes = Changes()
        """What waiting fetches wait on: a message appended or due, the bus closed."""
        self.buckets: dict[str, MemoryKV] = {}
        """Every KV bucket, the run-state one (:meth:`state_bucket`) included."""
        self.streams: dict[str, RawStream] = {}
        """Streams made by :meth:`ensure_stream` (not the events stream)."""
        self._core: list[MemoryCoreConsumer] = []
        self.dead_letter_stream = True
        """False: the dead-letter stream is gone (a test's outage), publishes to it fail."""
        self._sleep = sleep
        """How dead-letter retries pause (a test may pass a fake)."""

    # -- plumbing ---------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise BusUnavailableError("the memory bus is closed")
        if not self._ensured:
            raise BusError("memory:// has no streams yet: call ensure_streams() first")

    async def wait_changed(self, timeout: float) -> None:
        """Until a message is appended (or due again), or ``timeout`` seconds pass."""
        await self.changes.wait(timeout)

    # -- streams ----------------------------------------------------------

    async def ensure_streams(self) -> None:
        self._ensured = True

    async def publish(self, event: Event) -> None:
        body, headers = encode(event)
        await self.publish_raw(event.subject, body, headers)

    async def publish_raw(
        self, subject: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self._check()
        self._offer_core(subject, body, headers)
        raw = next((s for s in self.streams.values() if s.stores(subject)), None)
        if raw is not None:
            self._expect_stream(subject, headers, raw.name)
            raw.messages.append(StoredMessage.of(len(raw.messages), subject, body, headers))
            self.changes.notify()
            return
        if subject_matches(DEAD_LETTER_SUBJECTS, subject) and self.dead_letter_stream:
            self._expect_stream(subject, headers, DEAD_LETTER_STREAM)
            if not self._duplicate(self._dead_seen, headers):
                self.dead_letters.append(
                    StoredMessage.of(len(self.dead_letters), subject, body, headers)
                )
            return
        if not subject_matches(STREAM_SUBJECTS, subject):
            raise BusError(f"publish to {subject}: no stream stores this subject on memory://")
        self._expect_stream(subject, headers, EVENTS_STREAM)
        if self._duplicate(self._seen, headers):
            self.stats["duplicates"] += 1
            return
        self.messages.append(StoredMessage.of(len(self.messages), subject, body, headers))
        self.stats["published"] += 1
        self.changes.notify()

    @staticmethod
    def _expect_stream(subject: str, headers: Mapping[str, str] | None, stream: str) -> None:
        """JetStream refuses a message whose ``Nats-Expected-Stream`` names another stream."""
        expected = (headers or {}).get(EXPECTED_STREAM_HEADER)
        if expected is not None and expected != stream:
            raise BusError(
                f"publish to {subject}: JetStream refused it: expected stream does not "
                f"match (code 10060; {subject} is stored by {stream}, not {expected})"
            )

    def _duplicate(self, seen: dict[str, float], headers: Mapping[str, str] | None) -> bool:
        """A ``Nats-Msg-Id`` already stored in this stream's dedup window (else remember it)."""
        msg_id = (headers or {}).get(MSG_ID_HEADER)
        if msg_id is None:
            return False
        now = time.monotonic()
        # Insertion order is time order, so expired ids are at the front.
        while seen:
            oldest, at = next(iter(seen.items()))
            if at > now - self.duplicate_window:
                break
            del seen[oldest]
        if msg_id in seen:
            return True
        seen[msg_id] = now
        return False

    async def dead_letter(
        self,
        subject: str,
        body: bytes,
        headers: Mapping[str, str] | None,
        reason: str,
        *,
        to: str = DEAD_LETTER_SUBJECT,
        msg_id: str | None = None,
    ) -> None:
        check_dead_letter_subject(to)
        marked = dead_letter_headers(subject, headers, reason, msg_id=msg_id)
        what = f"dead-letter a message from {header_value(subject, 200)} to {to}"
        await publish_dead_letter(
            lambda: self.publish_raw(to, body, marked), what=what, sleep=self._sleep
        )
        self.stats["dead_letters"] += 1

    # -- consumers --------------------------------------------------------

    def _consumer_state(
        self, name: str, filter_subject: str, ack_wait: float, deliver: Deliver, acking: bool
    ) -> ConsumerState:
        state = self._consumers.get(name)
        if state is None:
            start = 0 if deliver == "all" else len(self.messages)
            state = ConsumerState(name, filter_subject, ack_wait, acking, next_index=start)
            self._consumers[name] = state
        state.filter_subject = filter_subject  # NATS lets a durable change its filter
        state.ack_wait = ack_wait
        return state

    async def pull_consumer(
        self,
        durable: str,
        filter_subject: str = STREAM_SUBJECTS,
        *,
        ack_wait: float = 30.0,
        deliver: Deliver = "all",
    ) -> MemoryConsumer:
        self._check()
        validate_name(durable, "consumer")
        state = self._consumer_state(durable, filter_subject, ack_wait, deliver, acking=True)
        return MemoryConsumer(state, self.messages, self.changes)

    def subscribe(
        self, filter_subject: str, *, durable: str | None = None, deliver: Deliver = "all"
    ) -> AsyncIterator[Event]:
        if durable is not None:
            validate_name(durable, "consumer")

        async def open_consumer() -> MemoryConsumer:
            self._check()
            name = durable or f"_ephemeral-{id(object())}"
            state = self._consumer_state(name, filter_subject, 30.0, deliver, durable is not None)
            state.max_ack_pending = SUBSCRIBE_BATCH
            on_close = self._drop_consumer if durable is None else None
            return MemoryConsumer(state, self.messages, self.changes, on_close=on_close)

        return iterate_events(
            open_consumer, acking=durable is not None, on_undecodable=self._count_undecodable
        )

    def _count_undecodable(self, delivery: Delivery) -> None:
        self.stats["decode_failures"] += 1

    def _drop_consumer(self, name: str) -> None:
        self._consumers.pop(name, None)

    # -- KV ---------------------------------------------------------------

    async def state_bucket(self) -> MemoryKV:
        """The run-state bucket, named as on NATS by default (:data:`STATE_BUCKET`)."""
        return await self.kv_bucket(STATE_BUCKET)

    async def kv_bucket(self, name: str, *, description: str = "") -> MemoryKV:
        self._check()
        validate_name(name, "KV bucket")
        return self.buckets.setdefault(name, MemoryKV(name, self._check))

    # -- what triggers use beyond the events stream -------------------------

    async def ensure_stream(self, name: str, subjects: list[str], *, description: str) -> None:
        self._check()
        self.streams.setdefault(name, RawStream(name, list(subjects)))

    async def stream_consumer(
        self,
        stream: str,
        durable: str,
        filter_subject: str,
        *,
        ack_wait: float = 30.0,
        deliver: Deliver = "all",
    ) -> MemoryConsumer:
        self._check()
        validate_name(durable, "consumer")
        raw = self.streams.get(stream)
        if raw is None:
            raise BusError(f"stream {stream} does not exist on memory://: ensure_stream() first")
        name = f"{stream}/{durable}"
        state = self._consumers.get(name)
        if state is None:
            start = 0 if deliver == "all" else len(raw.messages)
            state = ConsumerState(name, filter_subject, ack_wait, True, next_index=start)
            self._consumers[name] = state
        return MemoryConsumer(state, raw.messages, self.changes)

    async def core_consumer(self, subject: str) -> MemoryCoreConsumer:
        self._check()
        consumer = MemoryCoreConsumer(subject)
        self._core.append(consumer)
        return consumer

    async def publish_core(
        self, subject: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self._check()
        self._offer_core(subject, body, headers)

    def _offer_core(self, subject: str, body: bytes, headers: Mapping[str, str] | None) -> None:
        self._core = [c for c in self._core if not c.closed]
        for consumer in self._core:
            consumer.offer(StoredMessage.of(0, subject, body, headers))

    async def close(self) -> None:
        self._closed = True
        self.changes.close()
