"""NatsBus against a real nats-server passes the bus contract (see contract.py)."""

from __future__ import annotations

from collections.abc import Mapping

import nats.errors
import pytest
from nats.js import JetStreamContext

from runner.bus import Bus
from runner.events import DEAD_LETTER_SUBJECT
from tests.unit.bus.contract import BusContract

pytestmark = pytest.mark.integration


class TestNatsBus(BusContract):
    @pytest.fixture(autouse=True)
    def _inspector(self, jetstream: JetStreamContext) -> None:
        self.js = jetstream

    async def dead_letters(self, bus: Bus) -> list[tuple[str, bytes, Mapping[str, str]]]:
        sub = await self.js.pull_subscribe(DEAD_LETTER_SUBJECT)
        try:
            msgs = await sub.fetch(10, timeout=2.0)
        except nats.errors.TimeoutError:
            msgs = []
        finally:
            await sub.unsubscribe()
        return [(m.subject, m.data, m.headers or {}) for m in msgs]
