"""What triggers need from NATS beyond the events stream: raw streams, core
subscriptions and KV buckets of their own.

Bucket notifications are not runner events: MinIO publishes its own JSON to a
subject, either into a JetStream stream (replayable, acked) or on core NATS
(fire and forget). :func:`runner.bus.streams.stream_config` describes such a stream,
:class:`CoreConsumer` adapts a core subscription to the
:class:`~runner.bus.base.Consumer` interface (acks are no-ops: core NATS has
none), and :func:`open_kv_bucket` opens or creates a bucket for trigger and
sink definitions, cursors and dedup records.

Those buckets list their keys with :meth:`NatsKV.keys`, which reads until it
saw every subject the server holds: nats-py's ``KeyValue.keys()`` can return a
partial list (about 2 times in 300 on a one-key bucket), and a trigger that is
not listed is a trigger that is not served.
"""

from __future__ import annotations

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import StorageType

from runner.bus.base import Delivery, NoAck
from runner.bus.kv import NatsKV
from runner.bus.nats_errors import translate_errors
from runner.errors import BusUnavailableError
from runner.events.kinds import validate_name

__all__ = ["CoreConsumer", "open_kv_bucket"]


async def open_kv_bucket(js: JetStreamContext, name: str, description: str, url: str) -> NatsKV:
    """The bucket ``name``; created with history 1 and file storage when missing."""
    validate_name(name, "KV bucket")
    with translate_errors(f"open KV bucket {name}", url):
        try:
            kv = await js.key_value(name)
        except nats.js.errors.BucketNotFoundError:
            kv = await js.create_key_value(
                bucket=name, description=description, history=1, storage=StorageType.FILE
            )
    return NatsKV(kv, name, url)


class CoreConsumer:
    """A core NATS subscription behind the :class:`Consumer` interface.

    Messages published while nobody is subscribed are lost; that is what
    core NATS means. ``fetch`` returns what is buffered, up to ``batch``.
    """

    def __init__(self, sub: Subscription, subject: str, url: str) -> None:
        self._sub = sub
        self.name = f"core:{subject}"
        self._url = url
        self._closed = False

    async def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        if self._closed:
            raise BusUnavailableError(f"subscription {self.name} is closed: open a new one")
        out: list[Delivery] = []
        wait = timeout
        with translate_errors(f"receive from {self.name}", self._url):
            while len(out) < batch:
                try:
                    msg = await self._sub.next_msg(timeout=wait)
                except TimeoutError:
                    break
                out.append(_delivery(msg))
                wait = 0.001  # after the first message, take only what is already here
        return out

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._sub.unsubscribe()
        except nats.errors.ConnectionClosedError:
            return
        except nats.errors.Error as exc:
            raise BusUnavailableError(f"unsubscribe {self.name} on {self._url}: {exc}") from exc


def _delivery(msg: Msg) -> Delivery:
    return Delivery(msg.subject, msg.data, msg.headers or {}, 1, NoAck())
