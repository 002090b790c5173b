"""The in-memory side of :mod:`runner.bus.feeds`: KV buckets, raw streams and
core subscriptions of :class:`~runner.bus.memory.MemoryBus`.

They keep the NATS semantics triggers rely on: KV compare-and-set with
revisions, raw streams that keep bodies as published, and core
subscriptions that only see what is published after they start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.bus.base import Delivery, NoAck, subject_matches, validate_kv_key
from runner.bus.memory_consumer import StoredMessage
from runner.bus.streams import MAX_VALUE_BYTES
from runner.errors import BusError, BusUnavailableError, ConflictError

__all__ = ["MemoryCoreConsumer", "MemoryKV", "RawStream"]


class MemoryKV:
    """One KV bucket (run state or any other): revisions from one counter, CAS like
    NATS, values up to :data:`MAX_VALUE_BYTES`. ``check`` runs before every call (the
    bus passes one that raises once it is closed, as a NATS bucket would)."""

    def __init__(self, name: str, check: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self._check = check
        self._data: dict[str, tuple[bytes, int]] = {}
        self._revision = 0

    def _key(self, key: str) -> str:
        self._check()
        return validate_kv_key(key)

    async def get(self, key: str) -> tuple[bytes, int] | None:
        return self._data.get(self._key(key))

    async def create(self, key: str, value: bytes) -> int:
        if self._key(key) in self._data:
            raise ConflictError(f"KV key {key!r} already exists in bucket {self.name}")
        return self._put(key, value)

    async def update(self, key: str, value: bytes, revision: int) -> int:
        current = self._data.get(self._key(key))
        # Like NATS: revision 0 means "expect no value".
        if (current[1] if current else 0) != revision:
            raise ConflictError(
                f"KV key {key!r} in bucket {self.name} is no longer at revision {revision}"
            )
        return self._put(key, value)

    async def put(self, key: str, value: bytes) -> int:
        return self._put(self._key(key), value)

    def _put(self, key: str, value: bytes) -> int:
        if len(value) > MAX_VALUE_BYTES:
            raise BusError(f"KV value for {key!r} is {len(value)} bytes; max {MAX_VALUE_BYTES}")
        self._revision += 1
        self._data[key] = (bytes(value), self._revision)
        return self._revision

    async def delete(self, key: str) -> None:
        if self._data.pop(self._key(key), None) is not None:
            self._revision += 1  # the tombstone takes a revision on NATS too

    async def keys(self, prefix: str = "") -> list[str]:
        self._check()
        return sorted(k for k in self._data if k.startswith(prefix))

    async def values(self, pattern: str = ">") -> list[tuple[str, bytes]]:
        self._check()
        return [(k, v[0]) for k, v in sorted(self._data.items()) if subject_matches(pattern, k)]


@dataclass
class RawStream:
    """A stream other than the events stream, e.g. bucket notifications."""

    name: str
    subjects: list[str]
    messages: list[StoredMessage] = field(default_factory=list)

    def stores(self, subject: str) -> bool:
        return any(subject_matches(s, subject) for s in self.subjects)


class MemoryCoreConsumer:
    """A core subscription: sees only what is published while it is open."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.name = f"core:{subject}"
        self._queue: asyncio.Queue[StoredMessage] = asyncio.Queue()
        self.closed = False

    def offer(self, message: StoredMessage) -> None:
        if not self.closed and subject_matches(self.subject, message.subject):
            self._queue.put_nowait(message)

    async def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        if self.closed:
            raise BusUnavailableError(f"subscription {self.name} on memory:// is closed")
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                first = await self._queue.get()
        except TimeoutError:
            return []
        taken = [first]
        while len(taken) < batch and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return [Delivery(m.subject, m.body, m.headers, 1, NoAck()) for m in taken]

    async def close(self) -> None:
        self.closed = True
