"""The message bus: CloudEvents on NATS JetStream, and an in-memory fake.

Code above this layer uses the :class:`Bus` protocol; :func:`connect` gives
the NATS implementation, :class:`MemoryBus` the fake for unit tests, and
:class:`EmbeddedNats` starts the private nats-server of the default setup.

Every name is loaded on first use: a step process that only publishes its
own events imports :mod:`runner.bus.client`, not the embedded server's
supervision or the fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.lazy import lazy_attributes

if TYPE_CHECKING:
    from runner.bus.base import (
        DEAD_LETTER_REASON_HEADER,
        DEAD_LETTER_SUBJECT_HEADER,
        Bus,
        Consumer,
        Deliver,
        Delivery,
        KVBucket,
        subject_matches,
        validate_kv_key,
    )
    from runner.bus.client import NatsBus, connect
    from runner.bus.connection import redact_url
    from runner.bus.embedded import EmbeddedNats, discover, stop_discovered
    from runner.bus.memory import MemoryBus, StoredMessage
    from runner.bus.streams import MAX_VALUE_BYTES

_LAZY = {
    "DEAD_LETTER_REASON_HEADER": "runner.bus.base",
    "DEAD_LETTER_SUBJECT_HEADER": "runner.bus.base",
    "Bus": "runner.bus.base",
    "Consumer": "runner.bus.base",
    "Deliver": "runner.bus.base",
    "Delivery": "runner.bus.base",
    "KVBucket": "runner.bus.base",
    "subject_matches": "runner.bus.base",
    "validate_kv_key": "runner.bus.base",
    "NatsBus": "runner.bus.client",
    "connect": "runner.bus.client",
    "redact_url": "runner.bus.connection",
    "EmbeddedNats": "runner.bus.embedded",
    "discover": "runner.bus.embedded",
    "stop_discovered": "runner.bus.embedded",
    "MemoryBus": "runner.bus.memory",
    "StoredMessage": "runner.bus.memory",
    "MAX_VALUE_BYTES": "runner.bus.streams",
}


__getattr__, __dir__ = lazy_attributes("runner.bus", _LAZY, globals())


__all__ = [
    "DEAD_LETTER_REASON_HEADER",
    "DEAD_LETTER_SUBJECT_HEADER",
    "MAX_VALUE_BYTES",
    "Bus",
    "Consumer",
    "Deliver",
    "Delivery",
    "EmbeddedNats",
    "KVBucket",
    "MemoryBus",
    "NatsBus",
    "StoredMessage",
    "connect",
    "discover",
    "redact_url",
    "stop_discovered",
    "subject_matches",
    "validate_kv_key",
]
