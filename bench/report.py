"""The bench's outputs: a rich table on the terminal and a JSON record on disk.

JSON goes to ``bench/results/<UTC timestamp>.json`` and is copied to
``bench/results/latest.json``; it holds the machine, the configuration,
every sample of every workload and the derived figures the table shows.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.config import BenchConfig
from bench.kfp_env import KfpEnv
from bench.measure import Result

RESULTS = Path(__file__).resolve().parent / "results"

STEPS_PER_RUN = {"w1": 10, "w2": 51, "w3": 10}
TITLES = {
    "w1": "W1 chain of 10",
    "w2": "W2 50 + fan-in",
    "w3": "W3 W1 cached",
}


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        # 1/5/15-minute load when the record is made: other work slows everything.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return platform.processor() or None
    return None


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    return round(pages / 2**30, 1)


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, *args], capture_output=True, text=True, cwd=RESULTS.parent, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


# -- derived figures -------------------------------------------------------------------


def _find(results: list[Result], workload: str, system: str) -> Result | None:
    return next((r for r in results if r.workload == workload and r.system == system), None)


def _by_size(results: list[Result], workload: str) -> list[Result]:
    return sorted(
        (r for r in results if r.workload == workload), key=lambda r: int(r.extra.get("steps", 0))
    )


def rate(result: Result) -> float | None:
    """Transitions per second of a W4 or W6 result (transitions over the median seconds)."""
    transitions = result.extra.get("transitions")
    med = result.median
    return transitions / med if transitions and med else None


def _comparison_figures(results: list[Result]) -> dict[str, Any]:
    """W1-W3 per system (runner warm, runner cold, kfp) and their ratios to kfp."""
    out: dict[str, Any] = {}
    for workload in ("w1", "w2", "w3"):
        row: dict[str, Any] = {}
        for system in ("runner", "runner-cold", "kfp"):
            r = _find(results, workload, system)
            if r is not None and r.median is not None:
                row[system] = {
                    "median_seconds": r.median,
                    "per_step_seconds": r.median / STEPS_PER_RUN[workload],
                    "cpu_seconds_per_run": r.extra.get("cpu_seconds_per_run"),
                    "warm": r.extra.get("warm"),
                }
        for system, key in (("runner", "runner_over_kfp"), ("runner-cold", "cold_over_kfp")):
            if system in row and "kfp" in row:
                row[key] = row[system]["median_seconds"] / row["kfp"]["median_seconds"]
                row[f"cpu_{key}"] = _ratio(
                    row[system]["cpu_seconds_per_run"], row["kfp"]["cpu_seconds_per_run"]
                )
        if row:
            out[workload] = row
    return out


def summary(results: list[Result]) -> dict[str, Any]:
    """The figures the table shows, for the JSON record."""
    out: dict[str, Any] = _comparison_figures(results)
    for system, key in (
        ("runner", "per_step_overhead_seconds"),
        ("runner-cold", "per_step_overhead_cold_seconds"),
        ("kfp", "per_step_overhead_kfp_seconds"),
    ):
        w1 = _find(results, "w1", system)
        if w1 is not None and w1.median is not None:
            out[key] = w1.median / 10
    out.update(_issue_14_figures(results))
    for workload in ("w4-decide", "w4-controller"):
        sizes = {
            int(r.extra["steps"]): {"median_seconds": r.median, "transitions_per_second": rate(r)}
            for r in _by_size(results, workload)
            if r.median is not None
        }
        if sizes:
            out[workload] = sizes
    w5 = _find(results, "w5-runs-list", "runner")
    if w5 is not None and w5.median is not None:
        out["w5-runs-list"] = {"median_seconds": w5.median, **w5.extra}
    for workload, cpu_key in (
        ("w6-decide", "cpu_seconds"),
        ("w6-controller", "controller_cpu_seconds"),
    ):
        r = _find(results, workload, "runner")
        if r is not None and r.median is not None:
            out[workload] = {
                "items": r.extra.get("items"),
                "parallelism": r.extra.get("parallelism"),
                "transitions": r.extra.get("transitions"),
                "median_seconds": r.median,
                "transitions_per_second": rate(r),
                "transitions_per_cpu_second": cpu_rate(r, cpu_key),
            }
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _issue_14_figures(results: list[Result]) -> dict[str, Any]:
    """W0 (the cold step process), W7 (the demo) and W8 (shared packages), for the JSON."""
    out: dict[str, Any] = {}
    w0 = _find(results, "w0-step-start", "runner")
    if w0 is not None and w0.median is not None:
        keys = ("exec_to_started_event_ms", "exec_to_started_received_ms",
                "import_runner_step_main_ms", "modules_at_started", "forbidden_at_started",
                "importtime_top")  # fmt: skip
        out["w0-step-start"] = {k: w0.extra.get(k) for k in keys}
    w7: dict[str, Any] = {}
    for system in ("runner", "runner-cold"):
        r = _find(results, "w7", system)
        if r is not None and r.median is not None:
            before = r.extra.get("before_seconds")
            w7[system] = {
                "median_seconds": r.median,
                "cpu_seconds_per_run": r.extra.get("cpu_seconds_per_run"),
                "warm": r.extra.get("warm"),
                "faster_than_before": _ratio(before, r.median),
            }
            w7["before_seconds"] = before
    if w7:
        out["w7"] = w7
    w8 = _find(results, "w8", "runner")
    if w8 is not None and w8.median is not None:
        out["w8"] = {k: w8.extra.get(k) for k in (
            "first_run_seconds", "second_run_seconds", "build_seconds",
            "environments_after_each_run", "packages",
        )}  # fmt: skip
    return out


def build_record(
    config: BenchConfig,
    kfp: KfpEnv,
    results: list[Result],
    started: datetime,
    load_at_start: list[float] | None = None,
) -> dict[str, Any]:
    return {
        "started": started.isoformat(),
        "load_average_at_start": load_at_start,
        "finished": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "config": config.to_json(),
        "kfp": {"version": kfp.version, "unavailable": kfp.reason},
        "summary": summary(results),
        "results": [r.to_json() for r in results],
    }


def write_json(record: dict[str, Any]) -> Path:
    """Write ``record`` as ``results/<start time>.json`` and ``results/latest.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.fromisoformat(record["started"])
    path = RESULTS / f"{started:%Y%m%dT%H%M%SZ}.json"
    text = json.dumps(record, indent=2, default=str)
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path


# -- the table -------------------------------------------------------------------------


def _s(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    ms = value * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _cell(result: Result | None, missing: str) -> str:
    if result is None:
        return missing
    if result.median is None:
        return f"n/a ({result.error})"
    return f"{result.median:.3f} s"


def comparison_table(results: list[Result], kfp: KfpEnv, reps: int) -> Table:
    kfp_missing = f"n/a ({kfp.reason})" if kfp.reason else "n/a (not run)"
    table = Table(
        title=f"W1-W3: wall time of one run, median of {reps}",
        title_justify="left",
        caption="CPU: user+system seconds per run of all the system's processes. "
        "MiB: peak RSS of the orchestrating process / of it with all its children "
        "(steps, nats-server), sampled",
        caption_justify="left",
    )
    table.add_column("workload")
    for column in ("runner", "kfp.local", "ratio", "runner/step", "kfp/step", "CPU runner/kfp"):
        table.add_column(column, justify="right")
    table.add_column("runner MiB", justify="right")
    table.add_column("kfp MiB", justify="right")
    for workload in ("w1", "w2", "w3"):
        ours, theirs = _find(results, workload, "runner"), _find(results, workload, "kfp")
        if ours is None and theirs is None:
            continue
        ratio = (
            f"{ours.median / theirs.median:.1f}x"
            if ours and theirs and ours.median and theirs.median
            else "—"
        )
        n = STEPS_PER_RUN[workload]
        table.add_row(
            TITLES[workload],
            _cell(ours, "n/a (not run)"),
            _cell(theirs, kfp_missing),
            ratio,
            _ms(ours.median / n) if ours is not None and ours.median is not None else "—",
            _ms(theirs.median / n) if theirs is not None and theirs.median is not None else "—",
            f"{_cpu(ours)} / {_cpu(theirs)}",
            _memory(ours),
            _memory(theirs),
        )
    return table


ISSUE_14_WORKLOADS = ("w0-step-start", "w1", "w2", "w3", "w7", "w8")


def _median(result: Result | None) -> float | None:
    return result.median if result is not None else None


def _cpu_of(result: Result | None) -> float | None:
    if result is None or result.median is None:
        return None
    value = result.extra.get("cpu_seconds_per_run")
    return float(value) if value is not None else None


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _variant(result: Result | None, text: str) -> str:
    """A warm-variant cell, flagged when the executor ran with warm workers off."""
    if result is not None and result.median is not None and result.extra.get("warm") is False:
        return f"{text} (warm off)"
    return text


def targets_table(results: list[Result]) -> Table:
    """Issue 14's figures side by side: warm workers, cold, kfp.local, and the targets."""
    table = Table(
        title="Step start (issue 14): runner with warm workers (default) and with "
        "RUNNER_WARM=0, against kfp.local in the same bench run",
        title_justify="left",
        caption="CPU: user+system seconds per run of all processes (warm workers included). "
        "W7 ratios: how many times faster than the demo's 9.8 s before. W0: a new "
        "`python -m runner.step` process, exec to its step.started (the time in the event), "
        "tracing off; median",
        caption_justify="left",
    )
    for column in ("figure", "runner", "runner cold", "kfp.local", "runner/kfp", "cold/kfp"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    table.add_column("target")
    for workload, label, target in (("w1", "W1 chain of 10", "≤ 0.25x"),
                                    ("w2", "W2 50 + fan-in", "≤ 0.3x")):  # fmt: skip
        warm, cold, kfp = (_find(results, workload, s) for s in ("runner", "runner-cold", "kfp"))
        if warm is None and cold is None:
            continue
        table.add_row(
            f"{label}, wall",
            _variant(warm, _cell(warm, "—")), _cell(cold, "—"), _cell(kfp, "—"),
            _x(_ratio(_median(warm), _median(kfp))), _x(_ratio(_median(cold), _median(kfp))),
            f"{target} kfp",
        )  # fmt: skip
        table.add_row(
            f"{label}, CPU",
            _s(_cpu_of(warm), 2), _s(_cpu_of(cold), 2), _s(_cpu_of(kfp), 2),
            _x(_ratio(_cpu_of(warm), _cpu_of(kfp))), _x(_ratio(_cpu_of(cold), _cpu_of(kfp))),
            "≤ 0.25x kfp" if workload == "w1" else "",
        )  # fmt: skip
        if workload == "w1":
            per_step = [_median(r) for r in (warm, cold, kfp)]
            table.add_row(
                "per-step overhead (W1/10)",
                *(_ms(m / 10) if m is not None else "—" for m in per_step),
                "", "", "≤ 15 ms warm",
            )  # fmt: skip
    w3, w3_kfp = _find(results, "w3", "runner"), _find(results, "w3", "kfp")
    if w3 is not None:
        table.add_row(
            "W3 W1 fully cached",
            _ms(_median(w3)), "—", _ms(_median(w3_kfp)),
            _x(_ratio(_median(w3), _median(w3_kfp))), "", "≤ 10 ms",
        )  # fmt: skip
    w7, w7_cold = _find(results, "w7", "runner"), _find(results, "w7", "runner-cold")
    if w7 is not None or w7_cold is not None:
        before = next((r.extra.get("before_seconds") for r in (w7, w7_cold) if r), None)
        table.add_row(
            "W7 demo, uncached",
            _variant(w7, _cell(w7, "—")), _cell(w7_cold, "—"),
            f"before: {before} s" if before else "—",
            _x(_ratio(before, _median(w7))), _x(_ratio(before, _median(w7_cold))),
            "≥ 3x faster",
        )  # fmt: skip
    w0 = _find(results, "w0-step-start", "runner")
    if w0 is not None:
        event = w0.extra.get("exec_to_started_event_ms") if w0.median is not None else None
        cell = f"{event:.0f} ms" if event is not None else _cell(w0, "—")
        table.add_row("W0 cold step: exec to started", "—", cell, "—", "", "", "≤ 80 ms")
    w8 = _find(results, "w8", "runner")
    if w8 is not None:
        if w8.median is None:
            cell = f"n/a ({w8.error})"
        else:
            x = w8.extra
            runs = (
                f"{_seconds(x.get('first_run_seconds'))} / {_seconds(x.get('second_run_seconds'))}"
            )
            envs = x.get("environments_after_each_run")
            cell = f"{runs}; built {_seconds(x.get('build_seconds'))}; envs {envs}"
        table.add_row("W8 shared packages, 1st / 2nd run", cell, "", "", "", "",
                      "2nd: no install")  # fmt: skip
    return table


def _print_step_start_notes(console: Console, results: list[Result]) -> None:
    w0 = _find(results, "w0-step-start", "runner")
    if w0 is None or w0.median is None:
        return
    x = w0.extra
    top = [
        f"{row['module']} {row['cumulative_us'] / 1000:.0f}"
        for row in x.get("importtime_top", [])
        if row.get("depth") == 1
    ][:6]
    console.print(
        f"W0: exec to step.started {x.get('exec_to_started_event_ms', 0):.0f} ms (event time), "
        f"{x.get('exec_to_started_received_ms', 0):.0f} ms (received); "
        f"{x.get('modules_at_started')} modules loaded by then; forbidden ones: "
        f"{', '.join(x.get('forbidden_at_started') or []) or 'none'}; "
        f"import runner.step.main {x.get('import_runner_step_main_ms', 0):.0f} ms, "
        f"heaviest (cumulative ms): {', '.join(top) or '—'}"
    )


def _cpu(result: Result | None) -> str:
    if result is None or result.median is None:
        return "—"
    return _s(result.extra.get("cpu_seconds_per_run"), 2)


def _memory(result: Result | None) -> str:
    if result is None or result.median is None:
        return "—"
    return f"{_mib(result.rss_self_mib)} / {_mib(result.rss_tree_mib)}"


def cpu_rate(result: Result | None, key: str) -> float | None:
    """Transitions per CPU-second, from the CPU figure ``key`` of a W4 or W6 result."""
    if result is None or result.median is None:
        return None
    transitions, cpu = result.extra.get("transitions"), result.extra.get(key)
    return transitions / cpu if transitions and cpu else None


def throughput_table(results: list[Result], reps: int) -> Table:
    table = Table(
        title=f"W4: run transitions per second, synthetic DAG, median of {reps}",
        title_justify="left",
        caption="decide: the pure scheduler alone; controller: the real controller, "
        "nats-server and a no-op executor. tr/CPU-s: per CPU-second of the controller "
        "process; nats CPU: seconds the server spent. MiB: peak RSS of the controller "
        "process / with nats-server",
        caption_justify="left",
    )
    for column in (
        "steps",
        "decide tr/s",
        "tr/CPU-s",
        "controller wall",
        "controller tr/s",
        "tr/CPU-s",
        "nats CPU",
        "ctl MiB",
        "nats MiB",
    ):
        table.add_column(column, justify="right")
    decide = {int(r.extra.get("steps", 0)): r for r in _by_size(results, "w4-decide")}
    ctl = {int(r.extra.get("steps", 0)): r for r in _by_size(results, "w4-controller")}
    for steps in sorted(decide.keys() | ctl.keys()):
        d, c = decide.get(steps), ctl.get(steps)
        table.add_row(
            f"{steps:,}",
            _rate_cell(d, rate(d) if d else None),
            _rate_cell(d, cpu_rate(d, "cpu_seconds")),
            _cell(c, "—"),
            _rate_cell(c, rate(c) if c else None),
            _rate_cell(c, cpu_rate(c, "controller_cpu_seconds")),
            _seconds(c.extra.get("nats_cpu_seconds")) if c and c.median else "—",
            _memory(c),
            _mib(c.extra.get("nats_server_peak_mib")) if c else "—",
        )
    return table


def loop_table(results: list[Result], reps: int) -> Table:
    """W6 in one row: the ``ParallelFor`` through ``decide`` and through the controller."""
    d, c = _find(results, "w6-decide", "runner"), _find(results, "w6-controller", "runner")
    shown = next((r for r in (d, c) if r is not None and "items" in r.extra), d or c)
    assert shown is not None
    items = int(shown.extra.get("items", int(shown.extra.get("steps", 1)) - 1))
    parallelism = shown.extra.get("parallelism")
    table = Table(
        title=f"W6: a {items:,}-iteration ParallelFor, parallelism {parallelism or '?'}, "
        f"then a Collected fan-in; median of {reps}",
        title_justify="left",
        caption="transitions: events applied to the run (3 x steps + 3, steps = items + 1). "
        "Columns as in W4: decide alone, then the real controller with nats-server and the "
        "no-op executor",
        caption_justify="left",
    )
    for column in (
        "transitions",
        "decide wall",
        "decide tr/s",
        "tr/CPU-s",
        "controller wall",
        "controller tr/s",
        "tr/CPU-s",
        "nats CPU",
        "ctl MiB",
        "nats MiB",
    ):
        table.add_column(column, justify="right")
    transitions = next(
        (r.extra["transitions"] for r in (d, c) if r is not None and r.extra.get("transitions")),
        None,
    )
    table.add_row(
        "—" if transitions is None else f"{int(transitions):,}",
        _cell(d, "—"),
        _rate_cell(d, rate(d) if d else None),
        _rate_cell(d, cpu_rate(d, "cpu_seconds")),
        _cell(c, "—"),
        _rate_cell(c, rate(c) if c else None),
        _rate_cell(c, cpu_rate(c, "controller_cpu_seconds")),
        _seconds(c.extra.get("nats_cpu_seconds")) if c and c.median else "—",
        _memory(c),
        _mib(c.extra.get("nats_server_peak_mib")) if c else "—",
    )
    return table


def growth_line(results: list[Result]) -> str | None:
    """How the cost of one transition grows from the smallest to the largest size run."""
    parts = []
    for workload, label, cpu_key in (
        ("w4-decide", "decide", "cpu_seconds"),
        ("w4-controller", "controller", "controller_cpu_seconds"),
    ):
        rated: list[tuple[int, float, float | None]] = []
        for r in _by_size(results, workload):
            if value := rate(r):
                rated.append((int(r.extra["steps"]), value, cpu_rate(r, cpu_key)))
        if len(rated) >= 2:
            (small, fast, fast_cpu), (large, slow, slow_cpu) = rated[0], rated[-1]
            cpu = f", CPU {fast_cpu / slow_cpu:.1f}x" if fast_cpu and slow_cpu else ""
            parts.append(f"{label} {fast / slow:.1f}x wall{cpu} ({small:,} -> {large:,} steps)")
    if not parts:
        return None
    return "cost per transition grows: " + "; ".join(parts)


def _rate_cell(result: Result | None, value: float | None) -> str:
    if result is None:
        return "—"
    if value is None:
        return f"n/a ({result.error})" if result.error else "—"
    return f"{value:,.0f}"


def print_report(console: Console, record: dict[str, Any], path: Path | None = None) -> None:
    """Print the tables of a record (a fresh one, or one read back from JSON)."""
    info = record["machine"]
    kfp = KfpEnv(None, record["kfp"]["version"], record["kfp"]["unavailable"])
    reps = int(record["config"]["reps"])
    results = [Result.from_json(r) for r in record["results"]]
    console.print(
        f"[bold]runner bench[/] {info['commit'] or ''}{' (dirty)' if info['dirty'] else ''} on "
        f"{info['cpus']} x {info['cpu_model']}, {info['memory_gib']} GiB, "
        f"Python {info['python']}; kfp {kfp.version or 'n/a'}; {record['started'][:19]}Z; "
        f"load {record.get('load_average_at_start')} -> {info.get('load_average')}"
    )
    if any(r.workload in STEPS_PER_RUN for r in results):
        console.print(comparison_table(results, kfp, reps))
        _print_w1_notes(console, results)
    if any(r.workload in ISSUE_14_WORKLOADS for r in results):
        console.print(targets_table(results))
        _print_step_start_notes(console, results)
    if any(r.workload.startswith("w4") for r in results):
        console.print(throughput_table(results, reps))
        if growth := growth_line(results):
            console.print(growth)
    if line := runs_list_line(results):
        console.print(line)
    if any(r.workload.startswith("w6") for r in results):
        console.print(loop_table(results, reps))
    if path is not None:
        console.print(f"results: {path}")


def runs_list_line(results: list[Result]) -> str | None:
    """W5 in one line: ``runner runs list`` over many recorded runs."""
    w5 = _find(results, "w5-runs-list", "runner")
    if w5 is None:
        return None
    if w5.median is None:
        return f"W5 runs list: n/a ({w5.error})"
    x = w5.extra
    return (
        f"W5 runs list, {int(x.get('runs', 0)):,} runs: {_ms(w5.median)} (library, newest 20); "
        f"--experiment {_ms(x.get('experiment_filter_seconds'))}, "
        f"--status running {_ms(x.get('status_filter_seconds'))}; "
        f"the CLI command {_seconds(x.get('cli_seconds'))} (process start included); "
        f"reading every run state instead {_seconds(x.get('all_states_seconds'))}"
    )


def _print_w1_notes(console: Console, results: list[Result]) -> None:
    w1 = _find(results, "w1", "runner")
    if w1 is None or w1.median is None:
        return
    extra = w1.extra
    console.print(
        f"per-step overhead (W1/10): runner {_ms(w1.median / 10)}"
        + (
            f"; of which in the step process {_ms(extra.get('in_step_median_seconds'))}, "
            f"between steps {_ms(extra.get('between_steps_median_seconds'))}"
            if "in_step_median_seconds" in extra
            else ""
        )
        + f"; stack start {_ms(extra.get('stack_start_seconds'))}"
    )
    for result in (w1, _find(results, "w1", "kfp")):
        split = result.extra.get("cpu_split_per_run") if result is not None else None
        if result is not None and split:
            parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in split.items())
            console.print(f"CPU per W1 run, {result.system}: {parts}")
