"""HTTP sinks: run events delivered as CloudEvents over HTTP, binary mode.

A :class:`Sink` (stored as ``sink.<name>`` next to the triggers) names a URL
and a filter (pipeline, run, kind). Each matching event is POSTed the way
Knative eventing sends events: the CloudEvent attributes as ``ce-*``
headers, ``Content-Type: application/json`` and the event's ``data`` as the
body. :func:`classify` decides what a response means: 2xx delivered;
408, 429, 5xx (and connection errors) try again with exponential backoff;
any other status gives up at once. Both end in the dead-letter subject
``runner.deadletter.sink.<name>`` when the event could not be delivered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.errors import TransientError
from runner.events.envelope import Event
from runner.events.kinds import subject_filter, validate_name

__all__ = [
    "AiohttpSender",
    "HttpSender",
    "Sink",
    "Verdict",
    "backoff_seconds",
    "binary_request",
    "classify",
    "sink_dead_letter_subject",
]

RETRYABLE = frozenset({408, 429})


class Sink(BaseModel):
    """A stored HTTP sink definition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    url: str
    pipeline: str | None = None
    run: str | None = None
    kind: str | None = None
    """``run``, ``step`` or a kind such as ``step.failed``; unset = every event."""
    enabled: bool = True
    max_attempts: int = Field(default=8, ge=1)
    backoff_seconds: float = Field(default=1.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_backoff_seconds: float = Field(default=60.0, ge=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_name(value, "sink")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @property
    def subject(self) -> str:
        """The events subject filter this sink consumes."""
        return subject_filter(self.pipeline, self.run, self.kind)

    @property
    def durable(self) -> str:
        return f"sink-{self.name}"[:63]


def sink_dead_letter_subject(name: str) -> str:
    return f"runner.deadletter.sink.{validate_name(name, 'sink')}"


def binary_request(event: Event) -> tuple[dict[str, str], bytes]:
    """HTTP headers and body of ``event`` in CloudEvents binary mode."""
    time = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event.id,
        "ce-source": event.source,
        "ce-type": event.type,
        "ce-time": time.isoformat(),
        "ce-runid": event.run_id,
        "ce-pipeline": event.pipeline,
        "Content-Type": "application/json",
    }
    if event.step is not None:
        headers["ce-subject"] = event.step
    if event.traceparent is not None:
        headers["ce-traceparent"] = event.traceparent
        headers["traceparent"] = event.traceparent  # W3C, for HTTP-level tracing too
        if event.tracestate:
            headers["ce-tracestate"] = event.tracestate
            headers["tracestate"] = event.tracestate
    return headers, json.dumps(event.data_json(), separators=(",", ":")).encode()


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


def classify(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in RETRYABLE or status >= 500:
        return Verdict.RETRY
    return Verdict.GIVE_UP


def backoff_seconds(sink: Sink, attempt: int) -> float:
    """Wait after failed attempt ``attempt`` (1-based): base * factor^(n-1), capped."""
    delay = sink.backoff_seconds * sink.backoff_factor ** (attempt - 1)
    return float(min(delay, sink.max_backoff_seconds))


class HttpSender(Protocol):
    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        """The response status; :class:`TransientError` when no response came."""
        ...

    async def close(self) -> None: ...


class AiohttpSender:
    """POSTs with one shared aiohttp session; redirects are not followed."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        session = self._session
        try:
            async with session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransientError(
                f"POST {url} failed: {type(exc).__name__}: {exc or 'no response'}; check that "
                "the receiver is running and reachable"
            ) from exc

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
