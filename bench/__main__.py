"""``python -m bench`` (``make bench``): run the workloads, print the table, write JSON.

Flags override the ``BENCH_*`` environment (see :mod:`bench.config`)::

    python -m bench                 # everything, 3 repetitions, kfp if installable
    python -m bench --quick         # smoke run: 1 repetition, small sizes
    python -m bench --only w4 --reps 5 --no-kfp
    python -m bench --show          # print bench/results/latest.json again
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.config import BenchConfig, parse_only
from bench.harness import run_all
from bench.kfp_env import KfpEnv, ensure_kfp
from bench.pipelines import write_sources
from bench.report import RESULTS, build_record, print_report, write_json


def parse_args(argv: list[str] | None = None) -> tuple[BenchConfig, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, help="timed repetitions per workload (default 3)")
    parser.add_argument("--quick", action="store_true", help="1 repetition, small W4-W6 sizes")
    parser.add_argument("--no-kfp", action="store_true", help="skip the kfp comparison")
    parser.add_argument("--only", help="comma-separated workloads: w0,w1,w2,w3,w4,w5,w6,w7,w8")
    parser.add_argument(
        "--controller-timeout", type=float, help="seconds per W4/W6 controller run (default 180)"
    )
    parser.add_argument(
        "--show",
        nargs="?",
        const=RESULTS / "latest.json",
        type=Path,
        metavar="FILE",
        help="print the tables of a stored result (default: the latest) and exit",
    )
    args = parser.parse_args(argv)
    config = BenchConfig.from_env()
    if args.quick:
        config = config.quick_mode()
    if args.reps is not None:
        if args.reps < 1:
            parser.error("--reps must be at least 1")
        config = replace(config, reps=args.reps)
    if args.no_kfp:
        config = replace(config, kfp=False)
    if args.only:
        try:
            config = replace(config, only=parse_only(args.only))
        except ValueError as exc:
            parser.error(str(exc))
    if args.controller_timeout is not None:
        config = replace(config, controller_timeout=args.controller_timeout)
    return config, args.show


def main(argv: list[str] | None = None) -> None:
    config, show = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # piped into a file or a log: do not squeeze the tables
        console = Console(width=140)
    if show is not None:
        print_report(console, json.loads(show.read_text()), show)
        return
    started = datetime.now(UTC)
    load = [round(x, 2) for x in os.getloadavg()]
    kfp = _kfp(config, console)
    work = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    clock = time.perf_counter()
    try:
        tree = write_sources(work / "src")

        def progress(what: str) -> None:
            console.print(f"[dim]{time.perf_counter() - clock:7.1f}s  {what}[/]")

        results = run_all(config, tree, work, kfp, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = build_record(config, kfp, results, started, load)
    print_report(console, record, write_json(record))


def _kfp(config: BenchConfig, console: Console) -> KfpEnv:
    if not config.kfp:
        return KfpEnv(None, None, "disabled by --no-kfp or BENCH_KFP=0")
    if not any(config.wants(w) for w in ("w1", "w2", "w3")):
        return KfpEnv(None, None, "not needed for the selected workloads")
    with console.status("preparing kfp in bench/.venv-kfp (first time: pip install kfp)…"):
        env = ensure_kfp()
    if env.reason:
        console.print(f"[yellow]kfp comparison unavailable: {env.reason}[/]")
    return env


if __name__ == "__main__":
    main()
