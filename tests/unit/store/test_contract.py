"""The store contract, run against FileStore and the in-memory fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.store import FileStore, MemoryStore
from tests.unit.store.contract import StoreContract


class TestFileStore(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[FileStore]:
        store = FileStore(tmp_path / "root")
        yield store
        await store.close()


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        store = MemoryStore()
        yield store
        await store.close()
