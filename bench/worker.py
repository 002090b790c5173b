"""One workload in a fresh process: ``python -m bench.worker '<job json>'``.

Each workload runs in its own process so that its peak memory is its own
and no import, cache or event loop state carries over between workloads.
The last line of stdout is the :class:`~bench.measure.Result` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bench.measure import Result


def run_job(job: dict[str, Any]) -> Result:
    kind = job["kind"]
    if kind == "runner":
        from bench.runner_workloads import run_workload

        return asyncio.run(
            run_workload(
                job["workload"],
                Path(job["pipeline_file"]),
                Path(job["home"]),
                reps=job["reps"],
                warmup=job["warmup"],
                system=job.get("system", "runner"),
            )
        )
    if kind == "w0-step-start":
        from bench.step_start import step_start

        return step_start(job["reps"], Path(job["work"]))
    if kind == "w7-demo":
        from bench.demo import demo_workload

        return asyncio.run(demo_workload(Path(job["home"]), job["reps"], job["system"]))
    if kind == "w8-packages":
        from bench.packages import packages_workload

        return asyncio.run(packages_workload(Path(job["home"]), Path(job["source"])))
    if kind == "w4-decide":
        from bench.throughput import decide_throughput

        return decide_throughput(job["steps"], job["reps"])
    if kind == "w4-controller":
        from bench.throughput import controller_throughput

        return asyncio.run(controller_throughput(job["steps"], Path(job["home"]), job["timeout"]))
    if kind == "w5-runs-list":
        from bench.runs_list import runs_list

        return asyncio.run(runs_list(job["runs"], Path(job["home"]), job["reps"]))
    if kind == "w6-decide":
        from bench.loops import loop_decide

        return loop_decide(job["items"], job["reps"])
    if kind == "w6-controller":
        from bench.loops import loop_controller

        return asyncio.run(loop_controller(job["items"], Path(job["home"]), job["timeout"]))
    raise ValueError(f"unknown job kind {kind!r}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job = json.loads(sys.argv[1])
    result = run_job(job)
    print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()
