"""MemoryBus passes the same contract as NatsBus (see contract.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from runner.bus import Bus, MemoryBus
from tests.unit.bus.contract import BusContract


class TestMemoryBus(BusContract):
    @pytest.fixture
    async def bus(self) -> AsyncIterator[MemoryBus]:
        bus = MemoryBus()
        await bus.ensure_streams()
        yield bus
        await bus.close()

    async def dead_letters(self, bus: Bus) -> list[tuple[str, bytes, Mapping[str, str]]]:
        assert isinstance(bus, MemoryBus)
        return [(m.subject, m.body, m.headers) for m in bus.dead_letters]

    async def remove_dead_letter_stream(self, bus: Bus) -> None:
        assert isinstance(bus, MemoryBus)
        bus.dead_letter_stream = False

    async def restore_dead_letter_stream(self, bus: Bus) -> None:
        assert isinstance(bus, MemoryBus)
        bus.dead_letter_stream = True
