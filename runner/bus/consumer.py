"""JetStream pull consumers: the controller's work queue and subscribers' feeds.

:class:`NatsConsumer` wraps a pull consumer (durable: explicit ack, unlimited
redelivery; ephemeral: no acks, removed by the server when idle): ``fetch``
hands out decoded :class:`Delivery` objects and turns "no message in time"
into an empty list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from runner.bus.base import Deliver, Delivery
from runner.bus.nats_errors import translate_errors
from runner.errors import BusUnavailableError

__all__ = ["NatsConsumer", "consumer_config", "open_consumer", "StreamTarget"]

log = logging.getLogger(__name__)

_EPHEMERAL_IDLE_SECONDS = 60.0


class _MsgAcker:
    """Acks go straight to the server; a second ack of one message is a no-op."""

    def __init__(self, msg: Msg, url: str) -> None:
        self._msg = msg
        self._url = url

    async def ack(self) -> None:
        with self._replying("ack"):
            await self._msg.ack()

    async def nak(self, delay: float | None) -> None:
        with self._replying("nak"):
            await self._msg.nak(delay=delay)

    async def term(self) -> None:
        with self._replying("term"):
            await self._msg.term()

    @contextmanager
    def _replying(self, what: str) -> Iterator[None]:
        with translate_errors(f"{what} message on {self._msg.subject}", self._url):
            try:
                yield
            except nats.errors.MsgAlreadyAckdError:
                log.debug("%s of %s ignored: already acknowledged", what, self._msg.subject)


@dataclass(frozen=True)
class StreamTarget:
    stream: str
    url: str


def consumer_config(
    name: str | None,
    filter_subject: str,
    *,
    ack_wait: float,
    deliver: Deliver = "all",
    ack: bool = True,
    max_ack_pending: int | None = None,
) -> ConsumerConfig:
    """A pull consumer: durable when ``name`` is given, else ephemeral."""
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=filter_subject,
        deliver_policy=DeliverPolicy.ALL if deliver == "all" else DeliverPolicy.NEW,
        ack_policy=AckPolicy.EXPLICIT if ack else AckPolicy.NONE,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        # An ephemeral consumer whose process died is removed by the server.
        inactive_threshold=None if name else _EPHEMERAL_IDLE_SECONDS,
    )


class NatsConsumer:
    """A bound pull subscription; ``close`` leaves a durable consumer in place."""

    def __init__(
        self,
        js: JetStreamContext,
        sub: JetStreamContext.PullSubscription,
        target: StreamTarget,
        name: str,
        *,
        durable: bool,
    ) -> None:
        self._js = js
        self._sub = sub
        self._target = target
        self.name = name
        self._durable = durable
        self._closed = False

    async def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        if self._closed:
            raise BusUnavailableError(f"consumer {self.name} is closed: open a new one")
        what = f"fetch from consumer {self.name} on stream {self._target.stream}"
        with translate_errors(what, self._target.url):
            try:
                msgs = await self._sub.fetch(batch=batch, timeout=timeout)
            except TimeoutError:
                # nats.errors.TimeoutError, or the builtin one nats-py raises
                # itself when the deadline runs out between two pull requests.
                return []
        return [self._delivery(m) for m in msgs]

    def _delivery(self, msg: Msg) -> Delivery:
        # The delivery count lives in the $JS.ACK reply subject.
        delivered = msg.metadata.num_delivered if msg.reply.startswith("$JS.ACK.") else 1
        return Delivery(
            msg.subject, msg.data, msg.headers or {}, delivered, _MsgAcker(msg, self._target.url)
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with translate_errors(f"close consumer {self.name}", self._target.url):
            try:
                await self._sub.unsubscribe()
            except nats.errors.ConnectionClosedError:
                return
            if not self._durable:
                await self._js.delete_consumer(self._target.stream, self.name)


async def open_consumer(
    js: JetStreamContext, target: StreamTarget, config: ConsumerConfig
) -> NatsConsumer:
    """Create (or update, or reuse) the consumer and bind a pull subscription."""
    what = f"create consumer {config.name or '(ephemeral)'} on stream {target.stream}"
    with translate_errors(what, target.url):
        info = await js.add_consumer(target.stream, config)
        sub = await js.pull_subscribe_bind(consumer=info.name, stream=target.stream)
    return NatsConsumer(js, sub, target, info.name, durable=config.durable_name is not None)
