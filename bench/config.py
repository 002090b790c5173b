"""What a bench run does: the one place that reads ``BENCH_*`` from the environment.

``BENCH_REPS`` (default 3): timed repetitions per workload, reported as medians.
``BENCH_QUICK=1``: one repetition, no warm-up run, small W4 sizes, a 1,000-run W5
and a 100-iteration W6 — a smoke run.
``BENCH_KFP=0``: skip the kfp comparison (no venv is created).
``BENCH_ONLY=w1,w4``: run only these workloads (``w0 w1 w2 w3 w4 w5 w6 w7 w8``).
``BENCH_CONTROLLER_TIMEOUT`` (default 180): seconds one W4 or W6 controller run
may take; larger sizes are skipped after one runs over.
Command-line flags of ``python -m bench`` override these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

WORKLOADS = ("w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8")
"""w0: the cold step process (exec to step.started); w7: the demo pipeline;
w8: steps sharing ``packages``; the others as in ``docs/performance.md``."""
STEP_START_REPS = 7
"""W0: step processes timed (5 in quick mode): single processes vary more than runs."""
QUICK_STEP_START_REPS = 5
RUNS_LISTED = 10_000
"""W5: recorded runs ``runner runs list`` lists (1,000 in quick mode)."""
QUICK_RUNS_LISTED = 1_000
LOOP_ITEMS = 1_000
"""W6: iterations of the ``ParallelFor`` (parallelism 8; 100 in quick mode)."""
QUICK_LOOP_ITEMS = 100
FULL_SIZES = (1000, 2000, 5000, 10000)
QUICK_DECIDE_SIZES = (1000, 2000)
QUICK_CONTROLLER_SIZES = (200, 500)


@dataclass(frozen=True)
class BenchConfig:
    reps: int = 3
    warmup: bool = True
    """One untimed run before the timed ones, for both systems (W1, W2)."""
    quick: bool = False
    kfp: bool = True
    only: tuple[str, ...] = WORKLOADS
    decide_sizes: tuple[int, ...] = FULL_SIZES
    controller_sizes: tuple[int, ...] = FULL_SIZES
    runs_listed: int = RUNS_LISTED
    loop_items: int = LOOP_ITEMS
    step_start_reps: int = STEP_START_REPS
    controller_timeout: float = 180.0
    run_timeout: float = 1800.0
    """Wall-clock limit of one worker process (a whole workload)."""

    def wants(self, workload: str) -> bool:
        return workload in self.only

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BenchConfig:
        env = os.environ if environ is None else environ
        config = cls()
        if env.get("BENCH_QUICK", "").strip() not in ("", "0"):
            config = config.quick_mode()
        if reps := env.get("BENCH_REPS", "").strip():
            config = replace(config, reps=_positive(reps, "BENCH_REPS"))
        if env.get("BENCH_KFP", "").strip() == "0":
            config = replace(config, kfp=False)
        if only := env.get("BENCH_ONLY", "").strip():
            config = replace(config, only=parse_only(only))
        if timeout := env.get("BENCH_CONTROLLER_TIMEOUT", "").strip():
            config = replace(config, controller_timeout=float(timeout))
        return config

    def quick_mode(self) -> BenchConfig:
        return replace(
            self,
            quick=True,
            reps=1,
            warmup=False,
            decide_sizes=QUICK_DECIDE_SIZES,
            controller_sizes=QUICK_CONTROLLER_SIZES,
            runs_listed=QUICK_RUNS_LISTED,
            loop_items=QUICK_LOOP_ITEMS,
            step_start_reps=QUICK_STEP_START_REPS,
        )


def parse_only(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload {unknown[0]!r}: choose from {', '.join(WORKLOADS)}")
    return names


def _positive(text: str, name: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value
