"""The bus interface: what the controller, triggers and subscribers rely on.

Two implementations honour it: :class:`runner.bus.client.NatsBus` (JetStream)
and :class:`runner.bus.memory.MemoryBus` (an in-process fake with the same
semantics, for unit tests). Code above the bus depends only on these
protocols, never on nats-py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Literal, Protocol

from runner.errors import EventError, InvalidNameError
from runner.events.codec import decode
from runner.events.envelope import Event
from runner.events.kinds import DEAD_LETTER_SUBJECT, STREAM_SUBJECTS, shown_name, validate_name

__all__ = [
    "DEAD_LETTER_REASON_HEADER",
    "DEAD_LETTER_SUBJECT_HEADER",
    "Acknowledger",
    "Bus",
    "Consumer",
    "Deliver",
    "Delivery",
    "KVBucket",
    "header_value",
    "subject_matches",
    "validate_kv_key",
]

DEAD_LETTER_SUBJECT_HEADER = "Runner-Original-Subject"
"""Header of a dead letter: the subject the message was first published on."""
DEAD_LETTER_REASON_HEADER = "Runner-Dead-Letter-Reason"
"""Header of a dead letter: why it could not be processed."""

Deliver = Literal["all", "new"]


class Acknowledger(Protocol):
    """How a delivery tells its source it was handled (bus-specific)."""

    async def ack(self) -> None: ...
    async def nak(self, delay: float | None) -> None: ...
    async def term(self) -> None: ...


class NoAck:
    """The acknowledger of a source that has none (core NATS): every reply is a no-op."""

    async def ack(self) -> None:
        return None

    async def nak(self, delay: float | None) -> None:
        return None

    async def term(self) -> None:
        return None


class Delivery:
    """One message handed out by a :class:`Consumer`, already decoded.

    Exactly one of :attr:`event` and :attr:`error` is set: a message that is
    not a valid runner event carries the :class:`EventError` saying why, so
    the caller can dead-letter it and :meth:`term` it. Building a delivery
    never raises, whatever the message holds.
    """

    __slots__ = ("_acker", "body", "error", "event", "headers", "num_delivered", "subject")

    def __init__(
        self,
        subject: str,
        body: bytes,
        headers: Mapping[str, str],
        num_delivered: int,
        acker: Acknowledger,
    ) -> None:
        self.subject = subject
        self.body = body
        self.headers = dict(headers)
        self.num_delivered = num_delivered
        """1 on first delivery; higher after a nak or an expired ack wait."""
        self._acker = acker
        self.event: Event | None = None
        self.error: EventError | None = None
        try:
            self.event = decode(body, headers)
        except EventError as exc:
            self.error = exc
        except Exception as exc:  # one bad message must never stop a consumer
            # decode promises EventError only; this is the last line of defence.
            self.error = EventError(
                f"message could not be decoded: {type(exc).__name__} while decoding it"
            )
            self.error.__cause__ = exc

    async def ack(self) -> None:
        """Handled: never deliver it again."""
        await self._acker.ack()

    async def nak(self, delay: float | None = None) -> None:
        """Not handled now: deliver it again, after ``delay`` seconds if given."""
        await self._acker.nak(delay)

    async def term(self) -> None:
        """Can never be handled (e.g. undecodable): stop delivering it."""
        await self._acker.term()

    def __repr__(self) -> str:
        what = self.event.id if self.event else f"error={self.error}"
        return f"Delivery({self.subject!r}, {what}, num_delivered={self.num_delivered})"


class Consumer(Protocol):
    """A durable pull consumer: fetch a batch, handle each, ack each."""

    async def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        """Up to ``batch`` deliveries; ``[]`` when none arrive within ``timeout``."""
        ...

    async def close(self) -> None:
        """Stop fetching; the durable consumer (and its position) stays."""
        ...


class KVBucket(Protocol):
    """One JetStream KV bucket (run state, the run index, triggers' own, ...): keys are
    :func:`validate_kv_key`-checked.

    ``create`` and ``update`` are compare-and-set and raise
    :class:`~runner.errors.ConflictError` when they lose; ``put`` always writes.
    """

    async def get(self, key: str) -> tuple[bytes, int] | None: ...
    async def create(self, key: str, value: bytes) -> int: ...
    async def update(self, key: str, value: bytes, revision: int) -> int: ...
    async def put(self, key: str, value: bytes) -> int: ...
    async def delete(self, key: str) -> None: ...
    async def keys(self, prefix: str = "") -> list[str]: ...
    async def values(self, pattern: str = ">") -> list[tuple[str, bytes]]:
        """Every live key matching the NATS wildcard ``pattern`` with its value, in one
        pass over the bucket (no read per key): how indexes are listed."""
        ...


class Bus(Protocol):
    """Events, dead letters and KV buckets over one connection.

    Run state is one :class:`KVBucket` among others (:meth:`state_bucket`).
    Triggers also use other streams (bucket notifications), core NATS
    subjects and KV buckets of their own: :meth:`ensure_stream`,
    :meth:`stream_consumer`, :meth:`core_consumer`, :meth:`publish_core`,
    :meth:`kv_bucket`.
    """

    stats: dict[str, int]
    """Counters: ``published``, ``duplicates``, ``dead_letters``, ``decode_failures``."""

    @property
    def url(self) -> str:
        """Where the bus is, without credentials."""
        ...

    async def ensure_streams(self) -> None: ...
    async def publish(self, event: Event) -> None: ...
    async def publish_raw(
        self, subject: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None: ...
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
        """Park a message received on ``subject`` that cannot be processed on the
        dead-letter subject ``to``, with why (:mod:`runner.bus.dead_letters`).

        Server control headers are stripped, ``Nats-Msg-Id`` is kept (or
        replaced by ``msg_id``), the full ``reason`` (bounded) rides in
        :data:`DEAD_LETTER_REASON_HEADER`. Publishing is retried briefly; when
        the dead-letter stream stays unavailable this raises
        :class:`~runner.errors.BusUnavailableError` and nothing else: leave
        the message for redelivery.
        """
        ...

    async def pull_consumer(
        self,
        durable: str,
        filter_subject: str = STREAM_SUBJECTS,
        *,
        ack_wait: float = 30.0,
        deliver: Deliver = "all",
    ) -> Consumer:
        """``deliver`` applies when the durable is created; an existing one resumes."""
        ...

    def subscribe(
        self, filter_subject: str, *, durable: str | None = None, deliver: Deliver = "all"
    ) -> AsyncIterator[Event]: ...
    async def state_bucket(self) -> KVBucket:
        """The run-state bucket (``NatsSettings.state_bucket``), as :meth:`ensure_streams`
        made it (values up to :data:`~runner.bus.streams.MAX_VALUE_BYTES`); never
        created here: a missing one is a :class:`~runner.errors.BusError`."""
        ...

    async def kv_bucket(self, name: str, *, description: str = "") -> KVBucket:
        """The KV bucket ``name``, created (history 1, file storage) if missing."""
        ...

    async def ensure_stream(self, name: str, subjects: list[str], *, description: str) -> None:
        """Create a stream of raw messages (limits retention, the events stream's
        max age and dedup window), or leave an existing one as it is."""
        ...

    async def stream_consumer(
        self,
        stream: str,
        durable: str,
        filter_subject: str,
        *,
        ack_wait: float = 30.0,
        deliver: Deliver = "all",
    ) -> Consumer:
        """A durable pull consumer on any stream; deliveries keep their raw body."""
        ...

    async def core_consumer(self, subject: str) -> Consumer:
        """Core NATS messages on ``subject`` from now on (nothing stored; acks are no-ops)."""
        ...

    async def publish_core(
        self, subject: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        """Core NATS publish: no stream, no ack, no dedup."""
        ...

    async def close(self) -> None: ...


def validate_kv_key(key: str) -> str:
    """A KV key is one or more valid names joined by dots: ``run.r-1``."""
    if not isinstance(key, str) or not key:
        raise InvalidNameError(f"KV key {shown_name(key)} is empty: use names joined by '.'")
    try:
        for token in key.split("."):
            validate_name(token, "KV key part")
    except InvalidNameError as exc:
        raise InvalidNameError(f"KV key {shown_name(key)} is invalid: {exc}") from exc
    return key


def subject_matches(filter_subject: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` is one token, a final ``>`` one or more."""
    want = filter_subject.split(".")
    have = subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(have) == len(want)


def header_value(text: str, limit: int = 1024) -> str:
    """Make free text safe as a NATS header value or a log line: one line, bounded,
    valid UTF-8 (a lone surrogate echoed from a bad message is written ``\\udc80``)."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
