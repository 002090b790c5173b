"""W1-W3 on runner's embedded default: real nats-server, controller, local processes.

Each workload gets a fresh home (private nats-server, file store) that is
started once; the figure is the wall time of one run from ``submit`` to
``wait`` returning with the stack already up (the stack's start is reported
on its own), with the CPU time all its processes (controller, steps,
nats-server) spent per run. W1 and W2 run with ``no_cache`` (kfp.local caches nothing by
default either); W3 populates the cache with one run and then times runs
in which every step is a verified cache hit.

W1 and W2 run twice, in separate workers: as ``runner`` with warm workers
(``RUNNER_WARM=1``, the default: each step a fork of a worker that has
imported the step runtime) and as ``runner-cold`` with ``RUNNER_WARM=0``
(a new interpreter per step, as in a Kubernetes pod). The harness sets the
variable for the worker; the executor's own setting is recorded with the
result (``warm``), so a table never passes one variant off as the other.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.measure import (
    Result,
    descendants_cpu_seconds,
    own_cpu_seconds,
    process_cpu_seconds,
    vm_hwm_mib,
)
from bench.pipelines import CHAIN_RESULT, FANIN_RESULT
from runner.api import submit
from runner.config import LocalExecutorSettings, Settings
from runner.core import RunState, RunStatus, StepStatus
from runner.dsl.loader import LoadedPipeline, load_pipeline
from runner.executors.local import LocalExecutor
from runner.stack import Stack

RUN_TIMEOUT = 600.0

WORKLOADS: dict[str, tuple[str, bool, int]] = {
    "w1": ("chain", True, CHAIN_RESULT),
    "w2": ("fanin", True, FANIN_RESULT),
    "w3": ("chain", False, CHAIN_RESULT),
}
"""workload -> (pipeline function, no_cache, expected final output)."""


async def run_workload(
    workload: str,
    pipeline_file: Path,
    home: Path,
    reps: int,
    warmup: bool,
    concurrency: int | None = None,
    system: str = "runner",
) -> Result:
    func, no_cache, expected = WORKLOADS[workload]
    result = Result(workload=workload, system=system)
    loaded = load_pipeline(f"{pipeline_file}:{func}")
    settings = Settings(home=home, local=LocalExecutorSettings(concurrency=concurrency))
    started = time.perf_counter()
    async with Stack(settings) as stack:
        result.extra["stack_start_seconds"] = time.perf_counter() - started
        executor = stack.executor
        if not isinstance(executor, LocalExecutor):
            raise RuntimeError(f"the bench needs the local executor, not {executor!r}")
        if warmup or workload == "w3":  # W3's first run fills the cache
            await timed_run(stack, loaded, no_cache=no_cache)
        launched = executor.launched
        nats_pid = stack.embedded.pid if stack.embedded else None
        before = cpu_now(nats_pid)
        states: list[RunState] = []
        for _ in range(reps):
            seconds, state = await timed_run(stack, loaded, no_cache=no_cache)
            _check(state, expected, cached=workload == "w3")
            result.samples.append(seconds)
            states.append(state)
        spent = [(b - a) / reps for a, b in zip(before, cpu_now(nats_pid), strict=True)]
        result.extra["cpu_seconds_per_run"] = sum(spent)
        parts = ("controller", "steps", "nats")
        result.extra["cpu_split_per_run"] = dict(zip(parts, spent, strict=True))
        result.extra["processes_started"] = executor.launched - launched
        result.extra["concurrency"] = executor.settings.concurrency or "cpu count"
        result.extra["warm"] = executor.settings.warm
        if workload == "w1":
            result.extra.update(chain_breakdown(states))
        result.extra["nats_server_peak_mib"] = vm_hwm_mib(
            stack.embedded.pid if stack.embedded else None
        )
    result.record_memory()
    return result


async def timed_run(
    stack: Stack, loaded: LoadedPipeline, *, no_cache: bool, timeout: float = RUN_TIMEOUT
) -> tuple[float, RunState]:
    """Submit one run of ``loaded`` and wait for it: (wall seconds, final state)."""
    started = time.perf_counter()
    handle = await submit(
        loaded.pipeline,
        bus=stack.bus,
        store=stack.store,
        source_root=loaded.source_root,
        no_cache=no_cache,
        requested_by="bench",
    )
    state = await handle.wait(timeout=timeout)
    return time.perf_counter() - started, state


def cpu_now(nats_pid: int | None) -> tuple[float, float, float]:
    """CPU seconds so far: this process (controller, executor); the steps (and warm
    workers), live or ended; nats-server."""
    nats = process_cpu_seconds(nats_pid)
    return own_cpu_seconds(), descendants_cpu_seconds() - nats, nats


def _check(state: RunState, expected: int, *, cached: bool) -> None:
    if state.status is not RunStatus.SUCCEEDED:
        raise RuntimeError(f"run {state.run_id} ended {state.status.value}: {state.error}")
    last = next(reversed(state.steps.values()))
    if last.parameters.get("output") != expected:
        raise RuntimeError(f"run {state.run_id} returned {last.parameters}, not {expected}")
    if cached and any(s.status is not StepStatus.CACHED for s in state.steps.values()):
        raise RuntimeError(f"run {state.run_id} was expected to be fully cached")


def chain_breakdown(states: list[RunState]) -> dict[str, Any]:
    """Where W1's time goes, from the steps' own timestamps (medians over runs, seconds).

    ``in_step``: from a step's ``step.started`` to its ``step.succeeded`` (the
    step process fetching inputs, calling ``inc``, storing and reporting);
    ``between_steps``: from one step's ``step.succeeded`` to the next one's
    ``step.started`` (the controller deciding and launching, then a new
    Python process starting and importing until it reports).
    """
    in_step: list[float] = []
    between: list[float] = []
    for state in states:
        steps = list(state.steps.values())
        for prev, step in zip([None, *steps], steps, strict=False):
            if step.started_at and step.finished_at:
                in_step.append((step.finished_at - step.started_at).total_seconds())
            if prev is not None and prev.finished_at and step.started_at:
                between.append((step.started_at - prev.finished_at).total_seconds())
    if not in_step or not between:
        return {}
    in_step.sort()
    between.sort()
    return {
        "in_step_median_seconds": in_step[len(in_step) // 2],
        "between_steps_median_seconds": between[len(between) // 2],
    }
