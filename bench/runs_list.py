"""W5: ``runner runs list`` with many recorded runs (``python -m bench --only w5``).

Records ``runs`` synthetic two-step runs on a real nats-server: each run's
state in the run-state bucket and its summary in the run index, as the
controller leaves them (1 % still running, four experiments, two
pipelines). Then measures, as medians over the repetitions:

- ``runs list`` as the CLI does it (:func:`runner.lifecycle.history.list_runs`:
  one pass over the index, the running ones re-checked, sorted, first 20) —
  the samples;
- the same filtered by experiment (a server-side subject filter) and by status;
- the whole command, ``runner runs list --nats URL``, in a fresh process
  (Python start-up and imports included);
- for contrast, what listing cost before the index: reading every run state.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.measure import Result, median, peak_rss_mib
from runner.cli.runstate import all_runs
from runner.config import Settings
from runner.core.state import RunState, RunStatus, StepState, StepStatus
from runner.events.models import ArtifactRef
from runner.lifecycle.history import RunFilter, list_runs
from runner.records.index import RunIndex, RunSummary
from runner.records.states import RunStates
from runner.stack import Stack

__all__ = ["runs_list"]

BATCH = 500
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_run(n: int) -> RunState:
    run_id = f"bench-{n:06d}"
    running = n % 100 == 0
    created = T0 + timedelta(minutes=n)
    ref = ArtifactRef(
        uri=f"file:///store/runs/{run_id}/train/model", digest="sha256:" + "0" * 64, size=1
    )
    return RunState(
        run_id=run_id,
        pipeline="iris" if n % 2 else "toy",
        pipeline_digest="d" * 64,
        spec_uri="file:///store/pipelines/iris/d.json",
        parameters={"lr": 0.01 * (n % 10), "rows": 150},
        experiment=f"exp-{n % 4}",
        version=f"v{n % 3}",
        status=RunStatus.RUNNING if running else RunStatus.SUCCEEDED,
        steps={
            "prep": StepState(status=StepStatus.SUCCEEDED),
            "train": StepState(
                status=StepStatus.RUNNING if running else StepStatus.SUCCEEDED,
                outputs={} if running else {"model": ref},
            ),
        },
        created_at=created,
        started_at=created,
        finished_at=None if running else created + timedelta(seconds=30),
    )


async def _record(stack: Stack, runs: int) -> None:
    states, index = RunStates(stack.bus), RunIndex(stack.bus)
    for first in range(0, runs, BATCH):
        batch = [synthetic_run(n) for n in range(first, min(first + BATCH, runs))]
        await asyncio.gather(*(states.save(s, None) for s in batch))
        await asyncio.gather(*(index.put(RunSummary.from_state(s)) for s in batch))
    await index.backfill([])  # marks the index built, as a controller start does


async def _timed(make: object) -> float:
    started = time.perf_counter()
    await make  # type: ignore[misc]
    return time.perf_counter() - started


def _cli_seconds(url: str, home: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_", "NATS_"))}
    command = [sys.executable, "-m", "runner.cli", "runs", "list", "--nats", url, "--home"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, str(home)], capture_output=True, text=True, env=env, check=False, timeout=300
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"runner runs list failed: {done.stderr.strip()[-500:]}")
    return elapsed


async def runs_list(runs: int, home: Path, reps: int) -> Result:
    result = Result(workload="w5-runs-list", system="runner", extra={"runs": runs})
    async with Stack(Settings(home=home), controller=False) as stack:
        started = time.perf_counter()
        await _record(stack, runs)
        result.extra["record_seconds"] = time.perf_counter() - started
        listed = await list_runs(stack.bus, RunFilter(limit=20))
        assert len(listed) == min(runs, 20)
        by_experiment, by_status, cli, states = [], [], [], []
        for _ in range(max(reps, 1)):
            result.samples.append(await _timed(list_runs(stack.bus, RunFilter(limit=20))))
            where = RunFilter(experiment="exp-1", limit=20)
            by_experiment.append(await _timed(list_runs(stack.bus, where)))
            where = RunFilter(status=RunStatus.RUNNING, limit=20)
            by_status.append(await _timed(list_runs(stack.bus, where)))
            assert stack.nats_url is not None
            cli.append(await asyncio.to_thread(_cli_seconds, stack.nats_url, home / "cli"))
        states.append(await _timed(all_runs(stack.bus)))  # once: it is the slow one
    result.extra.update(
        experiment_filter_seconds=median(by_experiment),
        status_filter_seconds=median(by_status),
        cli_seconds=median(cli),
        all_states_seconds=median(states),
    )
    result.rss_self_mib = peak_rss_mib()
    return result
