"""Garbage on a notification subject is dead-lettered once, never fatal.

A notification nested too deeply, records of every wrong shape, and the
header that broke the controller's dead letters (``Nats-Expected-Stream``).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runner.bus import DEAD_LETTER_REASON_HEADER, MemoryBus
from runner.triggers import NOTIFICATION_DEAD_LETTERS, TriggerEngine
from runner.triggers.limits import RunLimiter
from runner.triggers.notifications import parse_notification
from tests.unit.events.garbage import GIVEN_SETTINGS, json_values
from tests.unit.triggers.helpers import make_trigger, memory_bus

SUBJECT = "runner.notifications.minio"


async def _no_runs(pipeline: str, run_id: str) -> bool | None:
    return None


async def engine_on(bus: MemoryBus) -> TriggerEngine:
    kv = await bus.kv_bucket("runner-triggers")
    seen = await bus.kv_bucket("runner-trigger-seen")
    return TriggerEngine(bus, seen, RunLimiter(kv, _no_runs))


async def test_deep_nesting_and_control_headers_are_one_dead_letter_each() -> None:
    bus = await memory_bus()
    engine = await engine_on(bus)
    bodies = [b"[" * 200_000, b'{"Records": ' + b"[" * 5000 + b"]" * 5000 + b"}"]
    headers = {"Nats-Expected-Stream": "RUNNER_NOTIFICATIONS", "Nats-Msg-Id": "n-1"}
    for i, body in enumerate(bodies):
        assert await engine.handle_notification(SUBJECT, body, {"X-N": str(i)}, []) is None
    await engine.handle_notification(SUBJECT, b"not json", headers, [make_trigger()])
    letters = bus.dead_letters
    assert [m.subject for m in letters] == [NOTIFICATION_DEAD_LETTERS] * 3
    assert "nested too deeply" in letters[0].headers[DEAD_LETTER_REASON_HEADER]
    assert "Nats-Expected-Stream" not in letters[2].headers
    assert letters[2].headers["Nats-Msg-Id"] == "n-1"
    assert engine.stats["dead_letters"] == 3


@GIVEN_SETTINGS
@given(st.lists(json_values, min_size=1, max_size=4))
def test_records_of_any_shape_are_problems_not_crashes(records: list[Any]) -> None:
    parsed = parse_notification(json.dumps({"Records": records}).encode())
    assert len(parsed.objects) + len(parsed.problems) == len(records)


@GIVEN_SETTINGS
@given(st.binary(max_size=500) | json_values.map(lambda v: json.dumps(v).encode()))
async def test_any_body_is_handled_or_dead_lettered(body: bytes) -> None:
    bus = await memory_bus()
    engine = await engine_on(bus)
    await engine.handle_notification(SUBJECT, body, {}, [make_trigger()])
    assert len(bus.dead_letters) <= 1
    for letter in bus.dead_letters:
        assert len(letter.headers[DEAD_LETTER_REASON_HEADER]) <= 4096
