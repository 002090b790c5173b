"""A plain nats-py client, as anyone on the bus has: publish what we like, read the
dead-letter stream. Blocking wrappers run the client on a private loop in a
thread (the tests are synchronous; pytest-asyncio's loop is left alone)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy

from tests.fixtures.nats import run_in_thread

DEAD_LETTER_STREAM = "RUNNER_EVENTS_DEADLETTER"
"""``runner.bus.streams.dead_letter_stream_name`` of the default settings."""
DEAD_LETTER_SUBJECTS = "runner.deadletter.>"


@dataclass(frozen=True)
class Message:
    subject: str
    body: bytes
    headers: dict[str, str] | None = field(default=None)
    label: str = "generated"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


async def _connect(url: str) -> NATS:
    # Two quick tries: nats-py's default is 60 tries 2 s apart, which turns a dead
    # server into a two-minute hang.
    return await nats.connect(
        url,
        allow_reconnect=False,
        connect_timeout=5,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.2,
    )


def publish(url: str, messages: Sequence[Message], chunk: int = 256) -> list[Message]:
    """JetStream-publish every message; the ones the events stream stored (a duplicate
    ``Nats-Msg-Id`` in the dedup window is dropped by the server, so it never reaches
    the controller)."""

    async def go() -> list[Message]:
        nc = await _connect(url)
        try:
            js = nc.jetstream(timeout=30)
            stored = []
            for i in range(0, len(messages), chunk):
                part = messages[i : i + chunk]
                acks = await asyncio.gather(
                    *(js.publish(m.subject, m.body, headers=m.headers) for m in part)
                )
                stored += [m for m, ack in zip(part, acks, strict=True) if not ack.duplicate]
            return stored
        finally:
            await nc.close()

    return run_in_thread(go())


def count(url: str, stream: str = DEAD_LETTER_STREAM) -> int:
    """Messages in ``stream`` (0 while it does not exist)."""

    async def go() -> int:
        nc = await _connect(url)
        try:
            info = await nc.jetstream().stream_info(stream)
            return int(info.state.messages)
        except nats.js.errors.NotFoundError:
            return 0
        finally:
            await nc.close()

    return run_in_thread(go())


@dataclass(frozen=True)
class DeadLetter:
    subject: str
    body: bytes
    headers: dict[str, str]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def dead_letters(url: str) -> list[DeadLetter]:
    """Everything in the dead-letter stream, through an ephemeral pull consumer."""

    async def go() -> list[DeadLetter]:
        nc = await _connect(url)
        try:
            js = nc.jetstream(timeout=30)
            total = int((await js.stream_info(DEAD_LETTER_STREAM)).state.messages)
            sub = await js.pull_subscribe(
                DEAD_LETTER_SUBJECTS,
                stream=DEAD_LETTER_STREAM,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=60),
            )
            out: list[DeadLetter] = []
            while len(out) < total:
                for msg in await sub.fetch(batch=1000, timeout=10):
                    out.append(DeadLetter(msg.subject, msg.data, dict(msg.headers or {})))
                    await msg.ack()
            await sub.unsubscribe()
            return out
        finally:
            await nc.close()

    return run_in_thread(go())


def missing(sent: Sequence[Message], parked: Sequence[DeadLetter]) -> list[Message]:
    """The sent messages whose body is not (as many times) in the dead-letter stream."""
    have = Counter(d.digest for d in parked)
    lost = []
    for message in sent:
        if have[message.digest] > 0:
            have[message.digest] -= 1
        else:
            lost.append(message)
    return lost
