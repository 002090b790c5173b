"""Runs the workloads, each in a fresh worker process, and collects their results.

The worker's process tree (its steps, its nats-server) is sampled from here
for its peak memory, so the sampling thread never competes with the
measured process for its GIL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.kfp_env import KfpEnv
from bench.measure import Result, TreeSampler, median
from bench.pipelines import SourceTree

REPO = Path(__file__).resolve().parent.parent
KFP_SCRIPT = Path(__file__).resolve().parent / "kfp_script.py"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Job:
    """One worker process: a label for logs, the command, and a fallback result."""

    label: str
    workload: str
    system: str
    command: list[str]
    timeout: float
    env: dict[str, str] | None = None
    """Set in the worker's environment on top of the bench's (``RUNNER_WARM``)."""


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def worker_environment(work: Path) -> dict[str, str]:
    """The environment of every worker, its steps and kfp's: bytecode is cached.

    Each step is a new Python process; without cached bytecode (a sandbox may
    set ``PYTHONDONTWRITEBYTECODE``) every one of them compiles its imports
    again, which no real installation does. The cache goes to a prefix under
    the bench's scratch directory, so nothing is written into the repository;
    the untimed warm-up run fills it.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def run_job(job: Job, logs: Path, env: dict[str, str] | None = None) -> Result:
    """Run ``job``; a failure becomes a result with ``error`` and no samples."""
    log = logs / f"{job.label}.log"
    if job.env:
        env = {**(os.environ if env is None else env), **job.env}
    with log.open("w") as err:
        proc = subprocess.Popen(
            job.command, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True, env=env
        )
        with TreeSampler(proc.pid) as sampler:
            try:
                out, _ = proc.communicate(timeout=job.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                return Result(job.workload, job.system, error=f"worker over {job.timeout:.0f} s")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        why = _tail(log) or f"exit code {proc.returncode}"
        return Result(job.workload, job.system, error=why)
    result = Result.from_json(json.loads(lines[-1]))
    result.rss_tree_mib = sampler.peak_mib
    return result


def _worker(payload: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "bench.worker", json.dumps(payload)]


VARIANTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("runner", {"RUNNER_WARM": "1"}),
    ("runner-cold", {"RUNNER_WARM": "0"}),
)
"""runner with warm workers (the default, said explicitly) and without them."""
WARM_COLD_WORKLOADS = ("w1", "w2")
"""W3 starts no step (every one is a cache hit): it runs once, with the default."""


def jobs_w123(config: BenchConfig, tree: SourceTree, work: Path, kfp: KfpEnv) -> Iterator[Job]:
    for workload in ("w1", "w2", "w3"):
        if not config.wants(workload):
            continue
        variants = VARIANTS if workload in WARM_COLD_WORKLOADS else VARIANTS[:1]
        for system, variant_env in variants:
            payload = {
                "kind": "runner",
                "workload": workload,
                "pipeline_file": str(tree.runner_file),
                "home": str(work / f"home-{workload}-{system}"),
                "reps": config.reps,
                "warmup": config.warmup,
                "system": system,
            }
            label = f"{workload}-{system}"
            yield Job(label, workload, system, _worker(payload), config.run_timeout, variant_env)
        if kfp.python is not None:
            command = [
                str(kfp.python),
                str(KFP_SCRIPT),
                workload,
                "--pipeline-file",
                str(tree.kfp_file),
                "--workdir",
                str(work / f"kfp-{workload}"),
                "--reps",
                str(config.reps),
            ]
            if config.warmup:
                command.append("--warmup")
            yield Job(f"{workload}-kfp", workload, "kfp", command, config.run_timeout)


def run_all(
    config: BenchConfig, tree: SourceTree, work: Path, kfp: KfpEnv, progress: Progress
) -> list[Result]:
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = worker_environment(work)
    results: list[Result] = []
    if config.wants("w0"):
        progress("w0 cold step process, exec to step.started")
        payload: dict[str, Any] = {
            "kind": "w0-step-start", "reps": config.step_start_reps, "work": str(work),
        }  # fmt: skip
        job = Job("w0-step-start", "w0-step-start", "runner", _worker(payload), 600)
        results.append(run_job(job, logs, env))
    for job in jobs_w123(config, tree, work, kfp):
        progress(f"{job.workload} on {job.system}")
        results.append(run_job(job, logs, env))
    if config.wants("w4"):
        results.extend(_run_w4(config, work, logs, env, progress))
    if config.wants("w5"):
        progress(f"w5 runs list, {config.runs_listed:,} runs")
        payload = {
            "kind": "w5-runs-list",
            "runs": config.runs_listed,
            "home": str(work / "home-w5"),
            "reps": config.reps,
        }
        job = Job("w5-runs-list", "w5-runs-list", "runner", _worker(payload), config.run_timeout)
        results.append(run_job(job, logs, env))
    if config.wants("w6"):
        results.extend(_run_w6(config, work, logs, env, progress))
    if config.wants("w7"):
        for system, variant_env in VARIANTS:
            progress(f"w7 the demo pipeline, uncached, {system}")
            # One home for both: the demo's scikit-learn environment is built once.
            payload = {"kind": "w7-demo", "home": str(work / "home-w7"),
                       "reps": config.reps, "system": system}  # fmt: skip
            job = Job(f"w7-{system}", "w7", system, _worker(payload), config.run_timeout,
                      variant_env)  # fmt: skip
            results.append(run_job(job, logs, env))
    if config.wants("w8"):
        progress("w8 steps sharing packages, built once")
        payload = {"kind": "w8-packages", "home": str(work / "home-w8"),
                   "source": str(work / "src-w8")}  # fmt: skip
        job = Job("w8-packages", "w8", "runner", _worker(payload), config.run_timeout)
        results.append(run_job(job, logs, env))
    return results


def _run_w6(
    config: BenchConfig, work: Path, logs: Path, env: dict[str, str], progress: Progress
) -> list[Result]:
    """W6: the ``ParallelFor`` through ``decide`` (one worker, ``reps`` runs) and through
    the controller (one worker per repetition, merged like W4's)."""
    items = config.loop_items
    steps = items + 1
    progress(f"w6 decide, ParallelFor of {items:,}")
    payload: dict[str, Any] = {"kind": "w6-decide", "items": items, "reps": config.reps}
    job = Job("w6-decide", "w6-decide", "runner", _worker(payload), config.run_timeout)
    results = [run_job(job, logs, env)]
    runs: list[Result] = []
    for rep in range(config.reps):
        progress(f"w6 controller, ParallelFor of {items:,} ({rep + 1}/{config.reps})")
        payload = {
            "kind": "w6-controller",
            "items": items,
            "home": str(work / f"home-w6-{rep}"),
            "timeout": config.controller_timeout,
        }
        timeout = config.controller_timeout + 120
        job = Job(f"w6-controller-{rep}", "w6-controller", "runner", _worker(payload), timeout)
        runs.append(run_job(job, logs, env))
        if not runs[-1].samples:
            break
    results.append(merge_runs(runs, steps))
    return results


def _run_w4(
    config: BenchConfig, work: Path, logs: Path, env: dict[str, str], progress: Progress
) -> list[Result]:
    results: list[Result] = []
    for steps in config.decide_sizes:
        progress(f"w4 decide, {steps} steps")
        payload = {"kind": "w4-decide", "steps": steps, "reps": config.reps}
        job = Job(f"w4-decide-{steps}", "w4-decide", "runner", _worker(payload), config.run_timeout)
        results.append(run_job(job, logs, env))
    over: int | None = None
    for steps in config.controller_sizes:
        if over is not None:
            results.append(
                Result(
                    "w4-controller",
                    "runner",
                    error=f"skipped: the {over}-step run did not finish",
                    extra={"steps": steps},
                )
            )
            continue
        runs: list[Result] = []
        for rep in range(config.reps):
            progress(f"w4 controller, {steps} steps ({rep + 1}/{config.reps})")
            payload = {
                "kind": "w4-controller",
                "steps": steps,
                "home": str(work / f"home-w4-{steps}-{rep}"),
                "timeout": config.controller_timeout,
            }
            label = f"w4-controller-{steps}-{rep}"
            timeout = config.controller_timeout + 120
            job = Job(label, "w4-controller", "runner", _worker(payload), timeout)
            runs.append(run_job(job, logs, env))
            if not runs[-1].samples:
                over = steps
                break
        results.append(merge_runs(runs, steps))
    return results


def merge_runs(runs: list[Result], steps: int) -> Result:
    """One result from repetitions that each ran in their own process.

    Samples are pooled, memory is the largest seen, numbers in ``extra`` are
    the median over the repetitions that have them (anything else: the last
    one's); an error is kept only when no repetition produced a sample.
    """
    merged = Result(runs[0].workload, runs[0].system, extra={"steps": steps})
    numbers: dict[str, list[float]] = {}
    for run in runs:
        merged.samples.extend(run.samples)
        merged.extra.update(run.extra)
        for key, value in run.extra.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                numbers.setdefault(key, []).append(value)
        merged.rss_self_mib = _max(merged.rss_self_mib, run.rss_self_mib)
        merged.rss_tree_mib = _max(merged.rss_tree_mib, run.rss_tree_mib)
        if run.error:
            merged.error = run.error
    merged.extra.update({key: median(values) for key, values in numbers.items()})
    merged.extra["steps"] = steps
    if merged.samples and merged.error:
        merged.extra["failed_repetition"] = merged.error
        merged.error = None
    return merged


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
