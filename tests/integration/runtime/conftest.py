"""Fixtures for end-to-end runs on the embedded default (real nats-server)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from runner.config import Settings
from runner.dsl.loader import LoadedPipeline, load_pipeline
from runner.stack import Stack

_counter = itertools.count()


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """Directory where test components record each execution."""
    path = tmp_path / "calls"
    path.mkdir()
    return path


def count_calls(calls: Path, step: str) -> int:
    path = calls / step
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture
def write_pipeline(tmp_path: Path) -> Callable[[str, str], LoadedPipeline]:
    """Write pipeline source into a fresh source tree and load it.

    Each call gets a unique module name: a process imports a module once, and
    an edited pipeline is a new file, as after a user's edit.
    """

    def write(source: str, func: str) -> LoadedPipeline:
        n = next(_counter)
        root = tmp_path / f"src{n}"
        root.mkdir()
        path = root / f"pipe_{func}_{n}.py"
        path.write_text(source)
        return load_pipeline(f"{path}:{func}")

    return write


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    settings = Settings(home=tmp_path / "home")
    async with Stack(settings) as local:
        yield local
