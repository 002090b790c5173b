"""The cold step process: from exec to ``step.started``, measured directly.

A private nats-server and a file store; a one-step request written the way
the local executor writes it; then, ``reps`` times, ``python -m runner.step
--request FILE`` is started (no warm worker: a fresh interpreter, as in a
Kubernetes pod or with ``RUNNER_WARM=0``) and a core NATS subscriber waits
for its ``step.started``. Two figures per attempt, in milliseconds from the
moment just before the exec:

- ``event``: the time the step wrote into its ``step.started`` event (its
  own clock, so no delivery latency);
- ``received``: when this process received it (what a controller sees);
- ``cpu``: the CPU time the step process had spent when it reported (the
  steadier figure on a shared machine: other work stretches wall time, hardly
  CPU time).

Tracing is off (no OTLP endpoint, no ``RUNNER_TRACE_DIR``) and bytecode is
cached, as in an installed deployment. ``python -X importtime`` of
``runner.step.main`` gives the heaviest imports (cumulative microseconds),
and ``forbidden`` lists the modules a step must not have loaded when it
reports started (none, when all is well) — a list of names, not a test: the
test is ``tests/unit/step/test_light_start.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import Result, median

PROBE_MODULE = "bench_step_probe"
PROBE_SOURCE = '''"""One trivial component, for the cold start probe."""

from runner import component, pipeline


@component
def probe(x: int) -> int:
    return x + 1


@pipeline(name="bench-step-start")
def start_probe():
    probe(x=1)
'''

FORBIDDEN_BEFORE_STARTED = (
    "aiohttp",
    "aioboto3",
    "aiobotocore",
    "boto3",
    "botocore",
    "croniter",
    "kubernetes_asyncio",
    "opentelemetry.sdk",
    "rich",
    "typer",
    "runner.dsl.compiler",
    "runner.dsl.pipeline",
    "runner.controller",
    "runner.store.s3",
)
"""Modules (and their submodules) a cold step has no business importing before it reports."""

_OTEL = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "RUNNER_TRACE_DIR")

MODULES_AT_STARTED = """
import json, os, sys, time
from runner.step.report import Reporter

_started = Reporter.started


async def started(self, **kwargs):
    cpu = time.process_time()
    with open(os.environ["BENCH_MODULES_FILE"], "w") as fh:
        json.dump({"modules": sorted(sys.modules), "cpu_seconds": cpu}, fh)
    await _started(self, **kwargs)


Reporter.started = started
from runner.step.main import main

sys.exit(main(["--request", sys.argv[1]]))
"""
"""A step process that writes the names of its loaded modules, and the CPU time the
process has spent (all its threads, interpreter start included), just before it
reports started. It imports ``runner.step.report`` first, which ``runner.step.main``
imports anyway: the set is the one a plain step has at that point."""


def forbidden_in(modules: list[str]) -> list[str]:
    """The forbidden modules (or submodules of them) among ``modules``."""
    return sorted(
        {f for f in FORBIDDEN_BEFORE_STARTED for m in modules if m == f or m.startswith(f + ".")}
    )


def step_environment(source: Path) -> dict[str, str]:
    """A step's environment: tracing off, the probe's module importable."""
    env = {k: v for k, v in os.environ.items() if k not in _OTEL}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_request(source: Path, work: Path, nats_url: str, run_id: str) -> Path:
    """A request for the probe step, as the controller would resolve it."""
    from runner.dsl.loader import load_pipeline
    from runner.step.request import StepRequest

    spec = load_pipeline(f"{source / (PROBE_MODULE + '.py')}:start_probe").pipeline.compile()
    task = spec.tasks[0]
    request = StepRequest(
        run_id=run_id,
        pipeline=spec.name,
        step=task.name,
        attempt=1,
        task=task,
        component=spec.components[task.component],
        parameters={"x": 1},
        store_uri=(work / "store").resolve().as_uri(),
        nats_url=nats_url,
    )
    path = work / f"request-{run_id}.json"
    request.write(path)
    return path


async def _started_times(
    nats_url: str, request: Path, run_id: str, env: dict[str, str], argv: list[str]
) -> tuple[float, float, int]:
    """(event ms, received ms, exit code) of one step process."""
    import nats

    nc = await nats.connect(nats_url)
    received: asyncio.Future[tuple[float, dict[str, Any]]] = asyncio.Future()

    async def on_message(msg: Any) -> None:
        event = json.loads(msg.data)
        if event.get("type", "").endswith("step.started") and not received.done():
            received.set_result((time.time(), event))

    try:
        await nc.subscribe(f"runner.events.*.{run_id}.>", cb=on_message)
        await nc.flush()
        before = time.time()
        proc = await asyncio.create_subprocess_exec(*argv, env=env)
        try:
            at, event = await asyncio.wait_for(received, 60)
        finally:
            code = await proc.wait()
    finally:
        await nc.close()
    from datetime import datetime

    stamped = datetime.fromisoformat(event["time"]).timestamp()
    return (stamped - before) * 1000, (at - before) * 1000, code


async def _probe(reps: int, work: Path) -> dict[str, Any]:
    from runner.bus.client import connect
    from runner.bus.embedded import EmbeddedNats
    from runner.config import NatsSettings

    source = work / "src"
    source.mkdir(parents=True, exist_ok=True)
    (source / f"{PROBE_MODULE}.py").write_text(PROBE_SOURCE)
    server = EmbeddedNats(work / "nats")
    url = await server.start()
    try:
        bus = await connect(NatsSettings(url=url), url=url)
        await bus.ensure_streams()
        await bus.close()
        env = step_environment(source)
        events: list[float] = []
        receipts: list[float] = []
        step = [sys.executable, "-m", "runner.step", "--request"]
        for rep in range(reps + 1):  # the first fills the bytecode cache, untimed
            run_id = f"probe-{rep}"
            request = write_request(source, work, url, run_id)
            stamped, received, code = await _started_times(
                url, request, run_id, env, [*step, str(request)]
            )
            if code != 0:
                raise RuntimeError(f"the probe step exited {code}")
            if rep:
                events.append(stamped)
                receipts.append(received)
        modules_file = work / "modules.json"
        env_modules = {**env, "BENCH_MODULES_FILE": str(modules_file)}
        cpu: list[float] = []
        for rep in range(reps):
            run_id = f"probe-cpu-{rep}"
            request = write_request(source, work, url, run_id)
            argv = [sys.executable, "-c", MODULES_AT_STARTED, str(request)]
            await _started_times(url, request, run_id, env_modules, argv)
            at_started = json.loads(modules_file.read_text())
            cpu.append(at_started["cpu_seconds"] * 1000)
        modules = at_started["modules"]
    finally:
        await server.stop()
    return {
        "event_ms": events,
        "received_ms": receipts,
        "cpu_ms": cpu,
        "modules_at_started": len(modules),
        "forbidden_at_started": forbidden_in(modules),
    }


def import_time_top(env: dict[str, str], top: int = 15, runs: int = 3) -> dict[str, Any]:
    """``python -X importtime -c "import runner.step.main"``, the quickest of ``runs``:
    the total and the heaviest imports by cumulative time (microseconds)."""
    best: list[tuple[int, int, str]] = []
    total = 0
    for _ in range(runs):
        rows = _import_times(env)
        seconds = next((c for c, _, n in rows if n.strip() == "runner.step.main"), 0)
        if not best or seconds < total:
            best, total = rows, seconds
    best.sort(reverse=True)
    return {
        "runner_step_main_us": total,
        "top_cumulative": [
            {
                "module": name.strip(),
                "depth": (len(name) - len(name.lstrip())) // 2,
                "cumulative_us": c,
                "self_us": s,
            }
            for c, s, name in best[:top]
        ],
    }


def _import_times(env: dict[str, str]) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, indented name) of each import ``runner.step.main`` makes."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import runner.step.main"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), int(own), name.rstrip()))
    return rows


def step_start(reps: int, work: Path | None = None) -> Result:
    """W0: the cold step process (exec to step.started), ``reps`` timed attempts."""
    result = Result(workload="w0-step-start", system="runner")
    with tempfile.TemporaryDirectory(prefix="bench-step-start-", dir=work) as tmp:
        figures = asyncio.run(_probe(reps, Path(tmp)))
        importtime = import_time_top(step_environment(Path(tmp) / "src"))
    result.samples = [ms / 1000 for ms in figures["event_ms"]]
    result.extra.update(
        {
            "exec_to_started_event_ms": median(figures["event_ms"]),
            "exec_to_started_received_ms": median(figures["received_ms"]),
            "exec_to_started_event_ms_all": figures["event_ms"],
            "cpu_to_started_ms": median(figures["cpu_ms"]),
            "cpu_to_started_ms_all": figures["cpu_ms"],
            "modules_at_started": figures["modules_at_started"],
            "forbidden_at_started": figures["forbidden_at_started"],
            "import_runner_step_main_ms": importtime["runner_step_main_us"] / 1000,
            "importtime_top": importtime["top_cumulative"],
        }
    )
    result.record_memory()
    return result


def main() -> None:
    """``python -m bench.step_start [REPS]``: print the figures as JSON."""
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(json.dumps(step_start(reps).to_json(), indent=1))


if __name__ == "__main__":
    main()
