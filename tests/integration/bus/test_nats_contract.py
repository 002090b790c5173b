"""NatsBus against a real nats-server passes the bus contract (see contract.py)."""

from __future__ import annotations

from collections.abc import Mapping

import nats.errors
import pytest
from nats.js import JetStreamContext

from runner.bus import Bus, NatsBus
from runner.bus.streams import DEAD_LETTER_SUBJECTS, dead_letter_stream_name
from tests.unit.bus.contract import BusContract

pytestmark = pytest.mark.integration


class TestNatsBus(BusContract):
    @pytest.fixture(autouse=True)
    def _inspector(self, jetstream: JetStreamContext) -> None:
        self.js = jetstream

    async def dead_letters(self, bus: Bus) -> list[tuple[str, bytes, Mapping[str, str]]]:
        sub = await self.js.pull_subscribe(DEAD_LETTER_SUBJECTS)
        try:
            msgs = await sub.fetch(10, timeout=2.0)
        except nats.errors.TimeoutError:
            msgs = []
        finally:
            await sub.unsubscribe()
        return [(m.subject, m.data, m.headers or {}) for m in msgs]

    async def remove_dead_letter_stream(self, bus: Bus) -> None:
        assert isinstance(bus, NatsBus)
        await self.js.delete_stream(dead_letter_stream_name(bus.settings))

    async def restore_dead_letter_stream(self, bus: Bus) -> None:
        """``ensure_streams`` made it again."""
