"""Helpers for trigger and sink tests against a real nats-server (and moto S3)."""

from __future__ import annotations

from nats.js import JetStreamContext

from runner.bus import NatsBus

REQUESTS = "runner.events.*.*.run.requested"


async def count_on(js: JetStreamContext, stream: str, subject: str) -> int:
    """Messages the stream holds on subjects matching ``subject`` (exact, from the server)."""
    info = await js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def run_requests(js: JetStreamContext, bus: NatsBus) -> int:
    return await count_on(js, bus.settings.stream, REQUESTS)
