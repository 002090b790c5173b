"""Dead letters: what a parked message carries, and how it is published.

Shared by :class:`~runner.bus.client.NatsBus` and
:class:`~runner.bus.memory.MemoryBus`. A dead letter is the original body
with the original headers minus every header the server would act on
(``Nats-Expected-Stream`` would make the publish to the dead-letter stream
fail, ``Nats-Rollup`` could purge it, ``Nats-TTL`` expire it...), plus the
subject it came from and why it was parked. ``Nats-Msg-Id`` stays: the
dead-letter stream drops a second copy of the same message.

Publishing is retried a few times with a short backoff; when the
dead-letter stream stays unavailable the caller gets
:class:`~runner.errors.BusUnavailableError` and should leave the message
for redelivery (nak it with a delay), never drop it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping

from runner.bus.base import (
    DEAD_LETTER_REASON_HEADER,
    DEAD_LETTER_SUBJECT_HEADER,
    header_value,
    subject_matches,
)
from runner.bus.streams import DEAD_LETTER_SUBJECTS
from runner.errors import BusError, BusUnavailableError
from runner.events.codec import MSG_ID_HEADER
from runner.events.kinds import DEAD_LETTER_SUBJECT

__all__ = [
    "DEAD_LETTER_STRIPPED_HEADER",
    "DEAD_LETTER_TRUNCATED_HEADER",
    "LOG_REASON_CHARS",
    "MAX_REDELIVERY_DELAY_SECONDS",
    "MAX_REASON_HEADER_CHARS",
    "PUBLISH_BACKOFF_SECONDS",
    "REDELIVERY_DELAY_SECONDS",
    "check_dead_letter_subject",
    "dead_letter_headers",
    "fit_payload",
    "log_reason",
    "redelivery_delay",
    "publish_dead_letter",
]

DEAD_LETTER_STRIPPED_HEADER = "Runner-Stripped-Headers"
"""Header of a dead letter: the names of the original headers that were removed."""
DEAD_LETTER_TRUNCATED_HEADER = "Runner-Dead-Letter-Truncated"
"""Header of a dead letter whose body had to be cut to fit the server's max_payload."""
MAX_REASON_HEADER_CHARS = 4096
"""The full reason, up to this long, rides in :data:`DEAD_LETTER_REASON_HEADER`."""
LOG_REASON_CHARS = 300
"""A dead letter's log line repeats this much of the reason (the header has it all)."""
PUBLISH_BACKOFF_SECONDS = (0.1, 0.4, 1.0)
"""Pauses between the attempts to publish one dead letter (so 4 attempts)."""

REDELIVERY_DELAY_SECONDS = 5.0
"""A message that could not be dead-lettered comes back after this long (first time)..."""
MAX_REDELIVERY_DELAY_SECONDS = 60.0
"""...doubling with each delivery, up to this."""

# What nats-py accepts as a header name (RFC 7230 token characters).
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")
# Pseudo-headers nats-py makes of a status line: never republish them.
_PSEUDO = frozenset({"status", "description"})


def dead_letter_headers(
    subject: str,
    headers: Mapping[str, str] | None,
    reason: str,
    *,
    msg_id: str | None = None,
) -> dict[str, str]:
    """The headers of the dead letter of a message received on ``subject``.

    Every ``Nats-*`` header except ``Nats-Msg-Id`` is removed (and named in
    :data:`DEAD_LETTER_STRIPPED_HEADER`), as are names NATS would reject;
    ``msg_id`` replaces the message's own dedup id when given.
    """
    kept: dict[str, str] = {}
    stripped: list[str] = []
    for name, value in (headers or {}).items():
        key = str(name)
        lowered = key.lower()
        if lowered == MSG_ID_HEADER.lower():
            kept[MSG_ID_HEADER] = header_value(str(value), 1024)
        elif lowered.startswith("nats-") or lowered in _PSEUDO or not _HEADER_NAME.match(key):
            stripped.append(key)
        else:
            kept[key] = _safe_value(str(value))
    if msg_id is not None:
        kept[MSG_ID_HEADER] = header_value(msg_id, 1024)
    if stripped:
        kept[DEAD_LETTER_STRIPPED_HEADER] = header_value(
            ", ".join(_shown_header(n) for n in stripped), 1024
        )
    kept[DEAD_LETTER_SUBJECT_HEADER] = header_value(subject)
    kept[DEAD_LETTER_REASON_HEADER] = header_value(reason, MAX_REASON_HEADER_CHARS)
    return kept


def fit_payload(body: bytes, headers: dict[str, str], max_payload: int) -> bytes:
    """``body``, cut so that it and ``headers`` fit in one message of ``max_payload``
    bytes (NATS counts both); a cut is recorded in :data:`DEAD_LETTER_TRUNCATED_HEADER`.

    Only a message already near the server's limit needs it: the dead letter's
    own headers (at most a few KiB) are what would push it over.
    """
    header_bytes = 16 + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
    room = max_payload - header_bytes - 64  # the truncation header below
    if len(body) <= room:
        return body
    headers[DEAD_LETTER_TRUNCATED_HEADER] = f"{len(body)} bytes, cut to {max(room, 0)}"
    return body[: max(room, 0)]


def redelivery_delay(num_delivered: int) -> float:
    """How long to nak a message whose dead letter could not be published: 5 s on
    its first delivery, doubling with each redelivery, at most 60 s."""
    exponent = min(max(num_delivered, 1) - 1, 16)
    return min(REDELIVERY_DELAY_SECONDS * 2.0**exponent, MAX_REDELIVERY_DELAY_SECONDS)


def log_reason(reason: str) -> str:
    """``reason`` as one bounded log-line fragment: one line, at most
    :data:`LOG_REASON_CHARS` characters."""
    return header_value(reason, LOG_REASON_CHARS)


def _safe_value(value: str) -> str:
    # A value received from NATS has no CR/LF; one handed in by a caller might.
    return header_value(value, len(value) + 3) if "\r" in value or "\n" in value else value


def _shown_header(name: str) -> str:
    return name if _HEADER_NAME.match(name) else repr(name[:40])


def check_dead_letter_subject(to: str) -> str:
    """``to`` must be a dead-letter subject (one the dead-letter stream stores)."""
    if not isinstance(to, str) or not subject_matches(DEAD_LETTER_SUBJECTS, to):
        raise BusError(
            f"dead letters go to {DEAD_LETTER_SUBJECTS} subjects, not {to!r}: "
            f"use the default ({DEAD_LETTER_SUBJECT}) or a subject under runner.deadletter."
        )
    return to


async def publish_dead_letter(
    publish: Callable[[], Awaitable[None]],
    *,
    what: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run ``publish`` until it succeeds, at most ``1 + len(PUBLISH_BACKOFF_SECONDS)``
    times; then raise :class:`BusUnavailableError` naming ``what`` and the last cause."""
    last: BusError | None = None
    for pause in (*PUBLISH_BACKOFF_SECONDS, None):
        try:
            await publish()
            return
        except BusError as exc:
            last = exc
        if pause is not None:
            await sleep(pause)
    attempts = len(PUBLISH_BACKOFF_SECONDS) + 1
    raise BusUnavailableError(
        f"could not {what} after {attempts} attempts: the dead-letter stream is "
        f"unavailable ({last}); the message stays on its stream and is retried later — "
        "check the server, or recreate the streams with `runner up` (Bus.ensure_streams())"
    ) from last
