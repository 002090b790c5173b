"""What each fault scenario measured: "N of M survived, steps run twice: K".

A scenario injects its fault at several moments (chosen by a seeded
``random.Random``); each moment is judged in a :meth:`Tally.moment` block.
A failed moment is recorded and, once ``CHAOS_MAX_FAILURES`` (default 1)
moments failed, the scenario stops: a stuck run costs one deadline, not M.
The figures are merged into ``tests/chaos/results/chaos.json`` (git-ignored)
and the suite prints them as a table at the end (``conftest.py``).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

RESULTS = Path(__file__).parent / "results" / "chaos.json"
MAX_FAILURES = int(os.environ.get("CHAOS_MAX_FAILURES", "1"))
recorded: dict[str, Tally] = {}
"""This session's tallies, for the summary table."""


def knob(name: str, default: int) -> int:
    """A size the environment may change (``CHAOS_KILLS=2`` while developing)."""
    return int(os.environ.get(name, default))


@dataclass
class Tally:
    scenario: str
    planned: int
    seed: int
    moments: list[str] = field(default_factory=list)
    attempted: int = 0
    survived: int = 0
    twice: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def stopped(self) -> bool:
        return len(self.failures) >= MAX_FAILURES

    @contextmanager
    def moment(self, what: str) -> Iterator[list[str]]:
        """Judge one fault: the block passes, or its failure is recorded (not raised).

        The block appends the steps that ran twice to the list it is given."""
        self.attempted += 1
        self.moments.append(what)
        print(f"[chaos] {self.scenario} #{self.attempted}: {what}", flush=True)
        twice: list[str] = []
        try:
            yield twice
        except (Exception, pytest.fail.Exception) as exc:
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            if not isinstance(exc, AssertionError | pytest.fail.Exception):
                first = f"{type(exc).__name__}: {first}"
                traceback.print_exc()  # not a verdict: where it came from matters
            self.failures.append(f"#{self.attempted} ({what}): {first}")
            print(f"[chaos]   FAILED: {exc}", flush=True)
            if "pytest-timeout" in text:  # the test's own timeout still ends it
                raise
        else:
            self.survived += 1
        self.twice += len(twice)

    def verdict(self) -> None:
        """Fail the test unless every planned moment survived."""
        self.save()
        if not self.passed:
            pytest.fail(
                f"{self.scenario}: {self.summary()}\n" + "\n".join(self.failures), pytrace=False
            )

    def summary(self) -> str:
        stopped = "" if self.attempted == self.planned else f" (stopped after {self.attempted})"
        return f"{self.survived} of {self.planned} survived{stopped}, steps run twice: {self.twice}"

    def save(self) -> None:
        self.seconds = round(time.monotonic() - self._started, 1)
        recorded[self.scenario] = self
        RESULTS.parent.mkdir(exist_ok=True)
        try:
            merged = json.loads(RESULTS.read_text())
        except (OSError, ValueError):
            merged = {}
        entry = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        merged[self.scenario] = {**entry, "summary": self.summary(), "passed": self.passed}
        tmp = RESULTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
        tmp.replace(RESULTS)

    @property
    def passed(self) -> bool:
        return not self.failures and self.survived == self.planned
