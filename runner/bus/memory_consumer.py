"""Pull consumers of :class:`~runner.bus.memory.MemoryBus`, modelled on JetStream's.

A consumer's state (position, un-acknowledged messages, redelivery times)
belongs to the bus under the consumer's name, so two handles with the same
durable name share the work and a new handle resumes where the last left off.
A consumer knows the bus only by its :class:`Changes` signal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runner.bus.base import Delivery, subject_matches
from runner.errors import BusUnavailableError

__all__ = ["Changes", "ConsumerState", "MemoryConsumer", "StoredMessage"]


class Changes:
    """The memory bus's signal to waiting fetches: a message was appended, a nak'ed
    one became due, or the bus closed (:attr:`closed`)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def notify(self) -> None:
        """Wake every waiter: something arrived or became due."""
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self.notify()

    async def wait(self, timeout: float) -> None:
        """Until the next :meth:`notify`, or ``timeout`` seconds (no error either way)."""
        event = self._event
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await event.wait()
        except TimeoutError:
            pass


@dataclass(frozen=True)
class StoredMessage:
    """One message as the stream keeps it."""

    seq: int
    subject: str
    body: bytes
    headers: Mapping[str, str]

    @classmethod
    def of(
        cls, index: int, subject: str, body: bytes, headers: Mapping[str, str] | None
    ) -> StoredMessage:
        return cls(index + 1, subject, bytes(body), dict(headers or {}))


@dataclass
class _Unacked:
    deadline: float
    num_delivered: int


@dataclass
class ConsumerState:
    name: str
    filter_subject: str
    ack_wait: float
    acking: bool
    next_index: int = 0
    max_ack_pending: int = 1000
    unacked: dict[int, _Unacked] = field(default_factory=dict)
    """Delivered, not yet acked: seq -> when it is redelivered unless acked."""
    due: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Nak'ed: seq -> (when to redeliver, deliveries so far)."""

    def expire(self, now: float) -> None:
        """Un-acked messages whose ack wait ran out become due again."""
        for seq, entry in list(self.unacked.items()):
            if entry.deadline <= now:
                del self.unacked[seq]
                self.due[seq] = (now, entry.num_delivered)

    def room(self, batch: int) -> int:
        """How many messages may go out now (max_ack_pending caps a durable)."""
        if not self.acking:
            return batch
        return max(0, min(batch, self.max_ack_pending - len(self.unacked)))

    def take(self, messages: list[StoredMessage], batch: int, now: float) -> list[tuple[int, int]]:
        """Up to ``batch`` (seq, num_delivered) pairs: redeliveries first, in order."""
        self.expire(now)
        limit = self.room(batch)
        out: list[tuple[int, int]] = []
        for seq in sorted(s for s, (at, _) in self.due.items() if at <= now)[:limit]:
            out.append((seq, self.due.pop(seq)[1] + 1))
        while self.next_index < len(messages) and len(out) < limit:
            msg = messages[self.next_index]
            self.next_index += 1
            if subject_matches(self.filter_subject, msg.subject):
                out.append((msg.seq, 1))
        if self.acking:
            for seq, delivered in out:
                self.unacked[seq] = _Unacked(now + self.ack_wait, delivered)
        return out

    def next_wakeup(self, now: float) -> float | None:
        """Seconds until an ack wait runs out or (with room) a nak delay ends."""
        times = [u.deadline for u in self.unacked.values()]
        if self.room(1):
            times += [at for at, _ in self.due.values()]
        return max(min(times) - now, 0.0) if times else None


class _MemoryAcker:
    def __init__(self, changes: Changes, state: ConsumerState, seq: int) -> None:
        self._changes = changes
        self._state = state
        self._seq = seq

    def _settle(self) -> _Unacked | None:
        # Acking a message that is no longer outstanding is a no-op, as on NATS.
        return self._state.unacked.pop(self._seq, None)

    async def ack(self) -> None:
        self._settle()

    async def term(self) -> None:
        self._settle()

    async def nak(self, delay: float | None) -> None:
        entry = self._settle()
        if entry is not None:
            self._state.due[self._seq] = (time.monotonic() + (delay or 0.0), entry.num_delivered)
            self._changes.notify()


class MemoryConsumer:
    """A handle on a consumer state over one stream's ``messages``; ``close`` keeps a
    durable state in the bus, and calls ``on_close`` (an ephemeral's bus forgets it)."""

    def __init__(
        self,
        state: ConsumerState,
        messages: list[StoredMessage],
        changes: Changes,
        *,
        on_close: Callable[[str], None] | None = None,
    ) -> None:
        self._state = state
        self._messages = messages
        self._changes = changes
        self._on_close = on_close
        self._closed = False
        self.name = state.name

    async def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        deadline = time.monotonic() + timeout
        while True:
            if self._closed or self._changes.closed:
                raise BusUnavailableError(f"consumer {self.name} on memory:// is closed")
            now = time.monotonic()
            taken = self._state.take(self._messages, batch, now)
            if taken:
                return [self._delivery(seq, n) for seq, n in taken]
            wakeup = self._state.next_wakeup(now)
            remaining = deadline - now
            if remaining <= 0:
                return []
            await self._changes.wait(min(remaining, wakeup if wakeup is not None else remaining))

    def _delivery(self, seq: int, num_delivered: int) -> Delivery:
        msg = self._messages[seq - 1]
        acker = _MemoryAcker(self._changes, self._state, seq)
        return Delivery(msg.subject, msg.body, msg.headers, num_delivered, acker)

    async def close(self) -> None:
        self._closed = True
        if self._on_close is not None:
            self._on_close(self.name)
