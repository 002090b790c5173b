"""Fixtures of the fault suite: a stack per test (everything it started is killed
by PID at the end), the seed that chooses the moments, and the summary table."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.chaos import tally as tallies
from tests.chaos.harness import Stack
from tests.chaos.tally import Tally


@pytest.fixture(scope="session")
def chaos_seed() -> int:
    """``CHAOS_SEED`` to replay a session's moments; else a fresh one (printed)."""
    return int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))


@pytest.fixture
def rng(chaos_seed: int, request: pytest.FixtureRequest) -> random.Random:
    """The moments of one test: the same seed gives the same moments."""
    print(f"[chaos] seed {chaos_seed} (replay with CHAOS_SEED={chaos_seed})", flush=True)
    return random.Random(f"{chaos_seed}:{request.node.name}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture
def tally(chaos_seed: int) -> Iterator[Callable[[str, int], Tally]]:
    made: list[Tally] = []

    def make(scenario: str, planned: int) -> Tally:
        t = Tally(scenario, planned, chaos_seed)
        made.append(t)
        return t

    yield make
    for t in made:
        t.save()  # also when the test failed outside a moment


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not tallies.recorded:
        return
    seeds = {t.seed for t in tallies.recorded.values()}
    terminalreporter.section(f"fault suite (seed {', '.join(map(str, sorted(seeds)))})")
    width = max(len(name) for name in tallies.recorded)
    for name, t in sorted(tallies.recorded.items()):
        mark = "ok  " if t.passed else "FAIL"
        terminalreporter.write_line(f"{mark} {name:<{width}}  {t.summary()}  ({t.seconds:g}s)")
    terminalreporter.write_line(f"figures: {tallies.RESULTS}")
