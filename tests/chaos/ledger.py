"""What the steps of :mod:`tests.chaos.pipeline` wrote: how often each step really ran."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.pipeline import STEPS


@dataclass(frozen=True)
class Entry:
    run: str
    step: str
    attempt: str
    pid: int
    event: str
    time: float


@dataclass(frozen=True)
class Ledger:
    path: Path

    def entries(self, run: str | None = None) -> list[Entry]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 6:
                continue  # a line being written right now
            entry = Entry(parts[0], parts[1], parts[2], int(parts[3]), parts[4], float(parts[5]))
            if run is None or entry.run == run:
                out.append(entry)
        return out

    def executions(self, run: str) -> Counter[str]:
        """How many times each step of ``run`` started executing."""
        return Counter(e.step for e in self.entries(run) if e.event == "start")

    def started(self, run: str, step: str) -> Entry | None:
        """The latest start of ``step`` in ``run``."""
        starts = [e for e in self.entries(run) if e.step == step and e.event == "start"]
        return starts[-1] if starts else None

    def ended(self, run: str, step: str) -> bool:
        return any(e.step == step and e.event == "end" for e in self.entries(run))

    def in_flight(self, run: str, at: float) -> str | None:
        """The step of ``run`` that started last before ``at``: the one a fault at
        ``at`` may have interrupted (its function, or its upload and report)."""
        before = [e for e in self.entries(run) if e.event == "start" and e.time < at]
        return before[-1].step if before else None

    def audit(self, run: str, faults: list[float]) -> tuple[list[str], list[str]]:
        """(problems, steps run twice) of ``run`` given the moments of its faults.

        Every step runs at least once; none more than twice; a step runs twice
        only if it was in flight at a fault."""
        counts = self.executions(run)
        allowed = {s for s in (self.in_flight(run, t) for t in faults) if s is not None}
        problems = [f"step {s} never executed" for s in STEPS if counts[s] == 0]
        problems += [f"step {s} executed {n} times" for s, n in counts.items() if n > 2]
        twice = sorted(s for s, n in counts.items() if n == 2)
        problems += [
            f"step {s} executed twice but was not in flight at a fault "
            f"(in flight: {', '.join(sorted(allowed)) or 'none'})"
            for s in twice
            if s not in allowed
        ]
        return problems, twice
