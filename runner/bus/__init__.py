"""The message bus: CloudEvents on NATS JetStream, and an in-memory fake.

Code above this layer uses the :class:`Bus` protocol; :func:`connect` gives
the NATS implementation, :class:`MemoryBus` the fake for unit tests, and
:class:`EmbeddedNats` starts the private nats-server of the default setup.
"""

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
