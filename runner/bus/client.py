""":class:`NatsBus`: the :class:`~runner.bus.base.Bus` over NATS JetStream.

One connection carries everything: events are published to the events
stream in structured CloudEvents mode with ``Nats-Msg-Id`` = event id (so a
re-published fact inside the dedup window is dropped by the server), dead
letters go to their own stream, and run state lives in a KV bucket.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from runner.bus.base import Deliver, Delivery, header_value
from runner.bus.connection import open_connection, redact_url
from runner.bus.consumer import NatsConsumer, StreamTarget, consumer_config, open_consumer
from runner.bus.dead_letters import (
    check_dead_letter_subject,
    dead_letter_headers,
    fit_payload,
    log_reason,
    publish_dead_letter,
)
from runner.bus.feeds import CoreConsumer, open_kv_bucket
from runner.bus.kv import NatsKV
from runner.bus.nats_errors import translate_errors
from runner.bus.streams import (
    MAX_VALUE_BYTES,
    Outcome,
    dead_letter_stream_config,
    ensure_kv,
    ensure_stream,
    events_stream_config,
    stream_config,
)
from runner.bus.subscription import SUBSCRIBE_BATCH, iterate_events
from runner.config import NatsSettings
from runner.errors import BusError, ConfigError
from runner.events.codec import encode
from runner.events.envelope import Event
from runner.events.kinds import DEAD_LETTER_SUBJECT, STREAM_SUBJECTS, validate_name

__all__ = ["NatsBus", "connect"]

log = logging.getLogger(__name__)


async def connect(settings: NatsSettings, url: str | None = None) -> NatsBus:
    """Connect to NATS at ``url`` (default: ``settings.url``).

    Raises :class:`~runner.errors.BusUnavailableError` when the server cannot
    be reached and :class:`~runner.errors.ConfigError` when the settings are
    wrong (no URL, rejected credentials, unreadable TLS files).
    """
    target = url or settings.url
    if not target:
        raise ConfigError(
            "no NATS URL: set NATS_URL (or RUNNER_NATS_URL), or start the embedded "
            "server with `runner up`"
        )
    client = await open_connection(settings, target)
    return NatsBus(client, settings, redact_url(target))


class NatsBus:
    """Events, dead letters and run state on one NATS connection."""

    def __init__(self, client: Client, settings: NatsSettings, url: str) -> None:
        self._nc = client
        self._js: JetStreamContext = client.jetstream()
        self._settings = settings
        self._url = url
        self._target = StreamTarget(settings.stream, url)
        self._state: NatsKV | None = None
        self._buckets: dict[str, NatsKV] = {}
        self.stats: dict[str, int] = dict.fromkeys(
            ("published", "duplicates", "dead_letters", "decode_failures"), 0
        )
        self.last_ensure: dict[str, Outcome] = {}
        """What the last :meth:`ensure_streams` did to each stream/bucket."""

    @property
    def url(self) -> str:
        return self._url

    @property
    def settings(self) -> NatsSettings:
        return self._settings

    async def ensure_streams(self) -> None:
        """Create or update the events and dead-letter streams and the KV bucket."""
        max_value = min(MAX_VALUE_BYTES, self._nc.max_payload)
        if max_value < MAX_VALUE_BYTES:
            log.warning(
                "NATS at %s allows %d-byte messages: run state is capped at that; "
                "set max_payload: 8MB on the server for large runs",
                self._url,
                max_value,
            )
        outcomes: dict[str, Outcome] = {}
        with translate_errors(f"set up JetStream streams on {self._url}", self._url):
            for config in (
                events_stream_config(self._settings),
                dead_letter_stream_config(self._settings),
            ):
                assert config.name is not None
                outcomes[config.name] = await ensure_stream(self._js, config)
            bucket = self._settings.state_bucket
            kv, outcomes[bucket] = await ensure_kv(self._js, bucket, max_value)
        self._state = NatsKV(kv, bucket, self._url)
        self.last_ensure = outcomes

    async def publish(self, event: Event) -> None:
        body, headers = encode(event)
        await self.publish_raw(event.subject, body, headers)

    async def publish_raw(
        self, subject: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        """JetStream publish; a duplicate ``Nats-Msg-Id`` in the window is not an error."""
        with translate_errors(f"publish to {subject}", self._url):
            ack = await self._js.publish(subject, body, headers=dict(headers or {}) or None)
        if ack.duplicate:
            self.stats["duplicates"] += 1
            log.debug("duplicate dropped by JetStream on %s (seq %d)", subject, ack.seq)
        else:
            self.stats["published"] += 1

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
        """Park an unprocessable message on ``to`` (``runner.deadletter.events``) with
        why; see :meth:`runner.bus.base.Bus.dead_letter`."""
        check_dead_letter_subject(to)
        marked = dead_letter_headers(subject, headers, reason, msg_id=msg_id)
        payload = fit_payload(body, marked, self._nc.max_payload)
        what = f"dead-letter a message from {header_value(subject, 200)} to {to}"

        async def attempt() -> None:
            with translate_errors(what, self._url):
                await self._js.publish(to, payload, headers=marked)

        await publish_dead_letter(attempt, what=what)
        self.stats["dead_letters"] += 1
        # The caller logs the one line per dead letter (it knows the context).
        log.debug("dead-lettered a message from %s", subject)

    async def pull_consumer(
        self,
        durable: str,
        filter_subject: str = STREAM_SUBJECTS,
        *,
        ack_wait: float = 30.0,
        deliver: Deliver = "all",
    ) -> NatsConsumer:
        """A durable pull consumer with explicit acks and unlimited redelivery.

        Several processes may open the same ``durable``: they share its
        messages (each goes to one of them), which is how controller replicas
        split the work.
        """
        validate_name(durable, "consumer")
        config = consumer_config(durable, filter_subject, ack_wait=ack_wait, deliver=deliver)
        return await open_consumer(self._js, self._target, config)

    def subscribe(
        self, filter_subject: str, *, durable: str | None = None, deliver: Deliver = "all"
    ) -> AsyncIterator[Event]:
        """Decoded events matching ``filter_subject``, in stream order.

        ``durable`` resumes where the last subscription of that name left off
        (each event is acked when the next one is requested). Undecodable
        messages are skipped and counted in ``stats["decode_failures"]``.
        Close it with ``aclose()`` (or ``contextlib.aclosing``).
        """
        if durable is not None:
            validate_name(durable, "consumer")
        config = consumer_config(
            durable,
            filter_subject,
            ack_wait=30.0,
            deliver=deliver,
            ack=durable is not None,
            max_ack_pending=SUBSCRIBE_BATCH if durable else None,
        )
        return iterate_events(
            lambda: open_consumer(self._js, self._target, config),
            acking=durable is not None,
            on_undecodable=self._count_undecodable,
        )

    def _count_undecodable(self, delivery: Delivery) -> None:
        self.stats["decode_failures"] += 1
        reason = log_reason(str(delivery.error))
        log.warning("skipped an undecodable message on %s: %s", delivery.subject, reason)

    async def state_bucket(self) -> NatsKV:
        """The run-state bucket made by :meth:`ensure_streams`, or an existing one
        opened on first use (a missing one is a :class:`BusError`, not created here:
        only ``ensure_streams`` knows its limits)."""
        if self._state is None:
            bucket = self._settings.state_bucket
            with translate_errors(f"open KV bucket {bucket}", self._url):
                try:
                    kv = await self._js.key_value(bucket)
                except nats.js.errors.BucketNotFoundError as exc:
                    raise BusError(
                        f"the run-state KV bucket {bucket!r} does not exist on {self._url}: "
                        "create it with `runner up` (or Bus.ensure_streams())"
                    ) from exc
            self._state = NatsKV(kv, bucket, self._url)
        return self._state

    # -- what triggers use beyond the events stream (see runner.bus.feeds) --

    async def kv_bucket(self, name: str, *, description: str = "") -> NatsKV:
        if name not in self._buckets:
            self._buckets[name] = await open_kv_bucket(self._js, name, description, self._url)
        return self._buckets[name]

    async def ensure_stream(self, name: str, subjects: list[str], *, description: str) -> None:
        config = stream_config(self._settings, name, subjects, description)
        with translate_errors(f"set up JetStream stream {name} on {self._url}", self._url):
            await ensure_stream(self._js, config)

    async def stream_consumer(
        self,
        stream: str,
        durable: str,
        filter_subject: str,
        *,
        ack_wait: float = 30.0,
        deliver: Deliver = "all",
    ) -> NatsConsumer:
        validate_name(durable, "consumer")
        config = consumer_config(durable, filter_subject, ack_wait=ack_wait, deliver=deliver)
        return await open_consumer(self._js, StreamTarget(stream, self._url), config)

    async def core_consumer(self, subject: str) -> CoreConsumer:
        with translate_errors(f"subscribe to {subject}", self._url):
            sub = await self._nc.subscribe(subject)
        return CoreConsumer(sub, subject, self._url)

    async def publish_core(
        self, subject: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        with translate_errors(f"publish to {subject}", self._url):
            await self._nc.publish(subject, body, headers=dict(headers or {}) or None)
            await self._nc.flush()

    async def close(self) -> None:
        """Flush what is buffered and close the connection (idempotent)."""
        if self._nc.is_closed:
            return
        try:
            await self._nc.close()
        except OSError:
            # The server is already gone (e.g. it was stopped first): nothing
            # left to flush, and the user should not see a reset traceback.
            log.debug("NATS connection to %s was already reset at close", self.url)

    async def __aenter__(self) -> NatsBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
