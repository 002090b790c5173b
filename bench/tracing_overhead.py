"""What tracing costs a step: ``python -m bench.tracing_overhead``.

Two figures, each with tracing off (``OTEL_SDK_DISABLED=true``) and on:

- **step process**: the wall time of a process that does what a step
  process does for tracing — import the step module, start tracing under a
  ``TRACEPARENT``, open the four spans of a step, flush at exit — with
  tracing off, to the local file, and over OTLP/HTTP to a receiver in this
  process. The difference to "off" is the per-step overhead.
- **end to end**: a chain of trivial steps on the embedded default (real
  nats-server, controller, local processes), uncached; per-step wall time.

Prints a table and writes JSON (``--json``); the bench owner may fold the
figures into ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
STEP_SNIPPET = f"""
import runner.step.main
from runner.telemetry.step import StepTracing
tracing = StepTracing.start(
    run_id="bench", step="s", attempt=1, traceparent="{TRACEPARENT}", tracestate=None
)
for name in ("fetch inputs", "run s", "upload outputs", "write cache manifest"):
    with tracing.span(name):
        pass
tracing.shutdown()
"""
OTEL = ("OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint on 127.0.0.1 that accepts and drops every request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def mode_env(mode: str, trace_dir: Path, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OTEL}
    env["RUNNER_TRACE_DIR"] = str(trace_dir)
    if mode == "off":
        env["OTEL_SDK_DISABLED"] = "true"
    elif mode == "otlp-http":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    return env


def step_process_seconds(
    modes: tuple[str, ...], procs: int, trace_dir: Path, endpoint: str
) -> dict[str, list[float]]:
    """Wall seconds of each step-like process, modes interleaved so load hits them alike."""
    envs = {mode: mode_env(mode, trace_dir, endpoint) for mode in modes}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(procs):
        for mode in modes:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", STEP_SNIPPET], env=envs[mode], check=True)
            times[mode].append(time.perf_counter() - started)
    return times


async def chain_seconds(mode: str, steps: int, reps: int, work: Path) -> list[float]:
    """Per-step wall time of uncached runs of a ``steps``-long chain."""
    from bench.pipelines import RUNNER_MODULE, runner_source
    from runner.api import submit
    from runner.config import Settings
    from runner.dsl.loader import load_pipeline
    from runner.stack import Stack

    source = work / f"src-{mode}"
    source.mkdir()
    (source / f"{RUNNER_MODULE}_{mode.replace('-', '_')}.py").write_text(
        runner_source(chain=steps, fan=2)
    )
    loaded = load_pipeline(f"{next(source.glob('*.py'))}:chain")
    saved = {k: os.environ.pop(k, None) for k in OTEL}  # no endpoint: the local file
    if mode == "off":
        os.environ["OTEL_SDK_DISABLED"] = "true"
    try:
        async with Stack(Settings(home=work / f"home-{mode}")) as stack:
            per_step = []
            for rep in range(reps + 1):  # the first run warms the code cache
                started = time.perf_counter()
                handle = await submit(
                    loaded.pipeline, {}, bus=stack.bus, store=stack.store,
                    source_root=loaded.source_root, no_cache=True,
                )  # fmt: skip
                state = await handle.wait(timeout=600)
                assert state.status.value == "succeeded", state.error
                if rep:
                    per_step.append((time.perf_counter() - started) / steps)
            return per_step
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_overhead")
    parser.add_argument("--procs", type=int, default=15, help="step processes per mode")
    parser.add_argument("--steps", type=int, default=8, help="steps in the end-to-end chain")
    parser.add_argument(
        "--reps", type=int, default=2, help="timed end-to-end runs per mode (0: skip them)"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"procs": args.procs, "steps": args.steps, "reps": args.reps}
    with tempfile.TemporaryDirectory(prefix="bench-tracing-") as tmp, otlp_sink() as endpoint:
        work = Path(tmp)
        modes = ("off", "file", "otlp-http")
        samples = step_process_seconds(modes, args.procs, work, endpoint)
        process = {mode: statistics.median(samples[mode]) for mode in modes}
        chain = {
            mode: statistics.median(asyncio.run(chain_seconds(mode, args.steps, args.reps, work)))
            for mode in ("off", "file")
            if args.reps > 0
        }
    results["step_process_seconds"] = process
    results["end_to_end_seconds_per_step"] = chain
    table = Table(title="tracing overhead (median wall seconds)")
    for column in ("measure", "off", "file", "otlp-http", "overhead (file)"):
        table.add_column(column, justify="right")
    table.add_row(
        "step process",
        *(f"{process[m]:.3f}" for m in ("off", "file", "otlp-http")),
        f"{process['file'] - process['off']:+.3f}",
    )
    if chain:
        table.add_row(
            f"per step, {args.steps}-step chain",
            f"{chain['off']:.3f}",
            f"{chain['file']:.3f}",
            "-",
            f"{chain['file'] - chain['off']:+.3f}",
        )
    Console().print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
