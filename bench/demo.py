"""W7: the demo pipeline (``functions/demo.py``, what ``make run`` runs), uncached.

Seven small scikit-learn steps passing artifacts by reference. The figure is
the wall time of one ``no_cache`` run on the embedded default with the stack
already up, with warm workers (``runner``) and without (``runner-cold``,
``RUNNER_WARM=0``), against the 9.8 s issue 14 measured before warm workers
and the light step process. One untimed run comes first, always: the demo's
components declare ``packages=["scikit-learn"]``, and the first run of a home
builds that step environment (W8 measures that build on its own).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.measure import Result
from bench.runner_workloads import RUN_TIMEOUT, cpu_now, timed_run
from runner.config import Settings
from runner.core import RunStatus
from runner.dsl.loader import load_pipeline
from runner.executors.local import LocalExecutor
from runner.stack import Stack

DEMO = Path(__file__).resolve().parent.parent / "functions" / "demo.py"
BEFORE_SECONDS = 9.8
"""The demo's uncached wall time when issue 14 was filed (7 steps, 2-core VM)."""


async def demo_workload(home: Path, reps: int, system: str) -> Result:
    result = Result(workload="w7", system=system)
    loaded = load_pipeline(f"{DEMO}:demo")
    started = time.perf_counter()
    async with Stack(Settings(home=home)) as stack:
        result.extra["stack_start_seconds"] = time.perf_counter() - started
        executor = stack.executor
        if not isinstance(executor, LocalExecutor):
            raise RuntimeError(f"the bench needs the local executor, not {executor!r}")
        result.extra["warm"] = executor.settings.warm
        first, state = await timed_run(stack, loaded, no_cache=True, timeout=RUN_TIMEOUT)
        _check(state)
        result.extra["first_run_seconds"] = first
        nats_pid = stack.embedded.pid if stack.embedded else None
        before = cpu_now(nats_pid)
        for _ in range(reps):
            seconds, state = await timed_run(stack, loaded, no_cache=True, timeout=RUN_TIMEOUT)
            _check(state)
            result.samples.append(seconds)
        spent = [(b - a) / reps for a, b in zip(before, cpu_now(nats_pid), strict=True)]
        result.extra["cpu_seconds_per_run"] = sum(spent)
        result.extra["steps"] = len(state.steps)
    result.extra["before_seconds"] = BEFORE_SECONDS
    result.record_memory()
    return result


def _check(state: object) -> None:
    status = getattr(state, "status", None)
    if status is not RunStatus.SUCCEEDED:
        raise RuntimeError(f"the demo run ended {status}: {getattr(state, 'error', None)}")
