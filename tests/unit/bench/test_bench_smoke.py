"""The bench's pure parts work: generators, the decide driver, config, the report.

No timings are asserted: the bench measures, tests only check that what it
measures is the right thing (a valid spec, a complete run, the expected
number of transitions).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bench.config import QUICK_CONTROLLER_SIZES, QUICK_LOOP_ITEMS, BenchConfig, parse_only
from bench.dag import chain_lengths, synthetic_spec
from bench.decide_driver import EVENTS_PER_STEP, RUN_EVENTS, drive_decide
from bench.harness import merge_runs
from bench.kfp_env import KfpEnv, ensure_kfp
from bench.loops import LOOP_PARALLELISM, check_loop_run, loop_spec
from bench.measure import Result, tree_rss_mib
from bench.noop_executor import NoopExecutor
from bench.pipelines import CHAIN, FAN, write_sources
from bench.report import build_record, print_report, summary
from runner.core import Plan, StepStatus
from runner.dsl.loader import load_pipeline
from runner.events.envelope import Event
from runner.events.kinds import EventKind
from runner.step.request import StepRequest
from tests.waiting import until


def test_the_10k_step_spec_is_a_valid_dag_of_chains_and_fan_outs() -> None:
    spec = synthetic_spec(10_000)
    plan = Plan.from_spec(spec)  # raises on duplicates, unknown deps, cycles
    assert len(plan) == 10_000
    assert plan.roots == ("root",)
    chains = len(chain_lengths(10_000))
    assert len(plan.tasks["root"].children) == chains
    assert len(plan.tasks["join"].parents) == chains
    assert spec.digest() == synthetic_spec(10_000).digest()


@pytest.mark.parametrize(("steps", "chain"), [(3, 10), (12, 10), (23, 10), (100, 7)])
def test_chain_lengths_add_up(steps: int, chain: int) -> None:
    lengths = chain_lengths(steps, chain)
    assert sum(lengths) + 2 == steps
    assert max(lengths) <= chain


def test_too_small_a_dag_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 steps"):
        chain_lengths(2)


def test_the_decide_driver_completes_a_run_with_three_transitions_per_step() -> None:
    run = drive_decide(synthetic_spec(23))
    assert run.status == "succeeded"
    assert run.transitions == EVENTS_PER_STEP * 23 + RUN_EVENTS
    assert run.state.outbox == []  # the driver confirms actions as the shell does
    assert {s.status for s in run.state.steps.values()} == {StepStatus.SUCCEEDED}
    # The trivial logic ran along each chain: root gives 1, step s of a chain 2 + s.
    assert run.state.steps["root"].parameters == {"output": 1}
    assert run.state.steps["c0-s9"].parameters == {"output": 11}
    assert run.state.steps["c2-s0"].parameters == {"output": 2}


def test_the_w6_loop_drives_to_completion_one_iteration_step_each() -> None:
    items = 20
    spec = loop_spec(items)
    plan = Plan.from_spec(spec)  # a valid loop: body under for-loop-1, fan-in after it
    assert plan.loops["for-loop-1"].loop.parallelism == LOOP_PARALLELISM
    run = drive_decide(spec)
    check_loop_run(run.status, run.state.steps, items)
    steps = items + 1  # inc[0] … inc[19], then gather
    assert run.transitions == EVENTS_PER_STEP * steps + RUN_EVENTS
    assert run.state.outbox == []
    assert {s.status for s in run.state.steps.values()} == {StepStatus.SUCCEEDED}
    assert run.state.steps["inc[0]"].parameters == {"output": 1}
    assert run.state.steps["inc[19]"].parameters == {"output": 20}
    assert run.state.loops["for-loop-1"].status is StepStatus.SUCCEEDED


def test_generated_runner_pipelines_compile_to_the_expected_shapes(tmp_path: Path) -> None:
    tree = write_sources(tmp_path / "src")
    chain = load_pipeline(f"{tree.runner_file}:chain").pipeline.compile()
    fanin = load_pipeline(f"{tree.runner_file}:fanin").pipeline.compile()
    assert len(chain.tasks) == CHAIN
    assert len(fanin.tasks) == FAN + 1
    total = fanin.tasks[-1]
    assert len(total.inputs) == FAN
    assert len(total.dependencies) == FAN
    compile(tree.kfp_file.read_text(), str(tree.kfp_file), "exec")  # valid Python


async def test_the_noop_executor_reports_started_then_succeeded() -> None:
    spec = synthetic_spec(3)
    plan = Plan.from_spec(spec)
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    executor = NoopExecutor(publish)
    request = StepRequest(
        run_id="r-1",
        pipeline=spec.name,
        step="c0-s0",
        attempt=1,
        task=plan.task("c0-s0"),
        component=plan.component_of("c0-s0"),
        parameters={"x": 1},
        store_uri="file:///nowhere",
    )
    try:
        first = await executor.launch(request)
        assert await executor.launch(request) == first  # idempotent
        await until(lambda: len(published) >= 2, "both reports", 5, interval=0.01)
    finally:
        await executor.aclose()
    assert [e.kind for e in published] == [EventKind.STEP_STARTED, EventKind.STEP_SUCCEEDED]
    assert published[1].data.model_dump()["parameters"] == {"output": 2}
    assert executor.launched == 1


def test_config_from_environment() -> None:
    assert BenchConfig.from_env({}) == BenchConfig()
    quick = BenchConfig.from_env({"BENCH_QUICK": "1", "BENCH_KFP": "0", "BENCH_ONLY": "w4,w1"})
    assert (quick.reps, quick.warmup, quick.kfp) == (1, False, False)
    assert quick.controller_sizes == QUICK_CONTROLLER_SIZES
    assert quick.only == ("w4", "w1")
    assert BenchConfig.from_env({"BENCH_REPS": "5"}).reps == 5
    assert quick.loop_items == QUICK_LOOP_ITEMS < BenchConfig().loop_items
    assert parse_only("w6") == ("w6",)
    with pytest.raises(ValueError, match="unknown workload"):
        parse_only("w9")


def _results() -> list[Result]:
    return [
        Result("w1", "runner", samples=[4.0, 5.0, 6.0], rss_self_mib=50, rss_tree_mib=150,
               extra={"in_step_median_seconds": 0.05, "between_steps_median_seconds": 0.4,
                      "cpu_seconds_per_run": 3.25}),
        Result("w1", "kfp", samples=[0.5, 0.6, 0.7], rss_self_mib=80, rss_tree_mib=90,
               extra={"cpu_seconds_per_run": 0.5}),
        Result("w2", "kfp", error="boom"),
        Result("w4-decide", "runner", samples=[0.2],
               extra={"steps": 1000, "transitions": 3003, "cpu_seconds": 0.1}),
        Result("w4-decide", "runner", samples=[2.0],
               extra={"steps": 10000, "transitions": 30003, "cpu_seconds": 1.0}),
        Result("w4-controller", "runner", error="over 180 s", extra={"steps": 10000}),
        Result("w6-decide", "runner", samples=[0.05],
               extra={"items": 1000, "parallelism": 8, "steps": 1001, "transitions": 3006,
                      "cpu_seconds": 0.04}),
        Result("w6-controller", "runner", samples=[3.0],
               extra={"items": 1000, "parallelism": 8, "steps": 1001, "transitions": 3006,
                      "controller_cpu_seconds": 2.0}),
    ]  # fmt: skip


def test_summary_and_tables_render_without_timing_assumptions(tmp_path: Path) -> None:
    results = _results()
    figures = summary(results)
    assert figures["w1"]["runner_over_kfp"] == pytest.approx(5.0 / 0.6)
    assert figures["per_step_overhead_seconds"] == pytest.approx(0.5)
    assert figures["w4-decide"][1000]["transitions_per_second"] == pytest.approx(3003 / 0.2)
    assert "w2" not in figures

    record = build_record(BenchConfig(), KfpEnv(None, "2.x", None), results, datetime.now(UTC))
    record = json.loads(json.dumps(record, default=str))  # what --show reads back
    console = Console(record=True, width=160)
    print_report(console, record)
    text = console.export_text()
    assert "W1 chain of 10" in text
    assert "n/a (boom)" in text
    assert "n/a (over 180 s)" in text
    assert "15,015" in text  # 3003 transitions / 0.2 s
    assert "30,030" in text  # 3003 transitions / 0.1 CPU-s
    assert "3.25 / 0.50" in text  # CPU per run, runner / kfp
    assert "decide 1.0x wall, CPU 1.0x (1,000 -> 10,000 steps)" in text
    assert figures["w6-decide"]["transitions_per_second"] == pytest.approx(3006 / 0.05)
    assert figures["w6-controller"]["transitions_per_cpu_second"] == pytest.approx(3006 / 2.0)
    assert "W6: a 1,000-iteration ParallelFor, parallelism 8" in text
    assert "60,120" in text  # 3006 transitions / 0.05 s through decide
    assert "1,503" in text  # 3006 transitions / 2.0 controller CPU-s


def test_result_round_trips_and_repetitions_merge() -> None:
    result = Result("w4-controller", "runner", samples=[1.0], extra={"steps": 5})
    assert Result.from_json(result.to_json()) == result
    merged = merge_runs(
        [
            Result(
                "w4-controller",
                "runner",
                samples=[2.0],
                rss_self_mib=10,
                extra={"controller_cpu_seconds": 4.0, "transitions": 18},
            ),
            Result(
                "w4-controller",
                "runner",
                samples=[1.0],
                rss_self_mib=30,
                extra={"controller_cpu_seconds": 2.0, "transitions": 18},
            ),
            Result("w4-controller", "runner", error="crashed"),
        ],
        steps=5,
    )
    assert merged.samples == [2.0, 1.0]
    assert merged.median == 1.5
    assert merged.rss_self_mib == 30
    assert merged.error is None
    assert merged.extra["failed_repetition"] == "crashed"
    assert merged.extra["controller_cpu_seconds"] == 3.0  # median over repetitions
    assert merged.extra["transitions"] == 18
    assert merged.extra["steps"] == 5


def test_without_kfp_the_bench_says_why(tmp_path: Path) -> None:
    env = ensure_kfp(tmp_path / "no-venv", install=False)
    assert env.python is None
    assert env.reason is not None
    assert "not installed" in env.reason


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tree_memory_of_this_process_is_positive() -> None:
    assert tree_rss_mib(os.getpid()) > 0


def _issue_14_results() -> list[Result]:
    return [
        Result("w0-step-start", "runner", samples=[0.07, 0.08, 0.09],
               extra={"exec_to_started_event_ms": 80.0, "exec_to_started_received_ms": 81.0,
                      "modules_at_started": 300, "forbidden_at_started": [],
                      "import_runner_step_main_ms": 60.0,
                      "importtime_top": [{"module": "runner.step.report", "depth": 1,
                                          "cumulative_us": 30000, "self_us": 100}]}),
        Result("w1", "runner", samples=[0.2], extra={"cpu_seconds_per_run": 0.1, "warm": True}),
        Result("w1", "runner-cold", samples=[4.0],
               extra={"cpu_seconds_per_run": 3.0, "warm": False}),
        Result("w1", "kfp", samples=[0.8], extra={"cpu_seconds_per_run": 0.8}),
        Result("w2", "runner-cold", error="boom"),
        Result("w3", "runner", samples=[0.008]),
        Result("w3", "kfp", samples=[0.002]),
        Result("w7", "runner", samples=[2.45], extra={"before_seconds": 9.8, "warm": True}),
        Result("w7", "runner-cold", samples=[4.9], extra={"before_seconds": 9.8, "warm": False}),
        Result("w8", "runner", samples=[1.5],
               extra={"first_run_seconds": 9.0, "second_run_seconds": 1.5, "build_seconds": 6.0,
                      "environments_after_each_run": [1, 1], "packages": ["tabulate"]}),
    ]  # fmt: skip


def test_the_issue_14_figures_are_derived_and_shown() -> None:
    results = _issue_14_results()
    figures = summary(results)
    assert figures["w1"]["runner_over_kfp"] == pytest.approx(0.25)
    assert figures["w1"]["cold_over_kfp"] == pytest.approx(5.0)
    assert figures["w1"]["cpu_runner_over_kfp"] == pytest.approx(0.125)
    assert figures["per_step_overhead_cold_seconds"] == pytest.approx(0.4)
    assert figures["per_step_overhead_kfp_seconds"] == pytest.approx(0.08)
    assert figures["w0-step-start"]["exec_to_started_event_ms"] == 80.0
    assert figures["w7"]["runner"]["faster_than_before"] == pytest.approx(4.0)
    assert figures["w7"]["runner-cold"]["faster_than_before"] == pytest.approx(2.0)
    assert figures["w8"]["environments_after_each_run"] == [1, 1]

    record = build_record(BenchConfig(), KfpEnv(None, "2.x", None), results, datetime.now(UTC))
    console = Console(record=True, width=200)
    print_report(console, json.loads(json.dumps(record, default=str)))
    text = console.export_text()
    assert "Step start (issue 14)" in text
    assert "0.25x" in text  # W1 wall, warm over kfp
    assert "5.00x" in text  # W1 wall, cold over kfp
    assert "400 ms" in text  # cold per-step overhead
    assert "8.0 ms" in text  # W3 fully cached
    assert "4.00x" in text  # W7 warm: 9.8 s / 2.45 s
    assert "W0 cold step: exec to started" in text
    assert "80 ms" in text
    assert "9.0 s / 1.5 s" in text  # W8 first / second run
    assert "forbidden ones: none" in text


def test_w1_and_w2_run_warm_and_cold_and_w3_once(tmp_path: Path) -> None:
    from bench.harness import jobs_w123

    tree = write_sources(tmp_path / "src")
    config = BenchConfig(only=("w1", "w2", "w3"))
    jobs = list(jobs_w123(config, tree, tmp_path, KfpEnv(None, None, "off")))
    assert [(j.workload, j.system) for j in jobs] == [
        ("w1", "runner"), ("w1", "runner-cold"), ("w2", "runner"), ("w2", "runner-cold"),
        ("w3", "runner"),
    ]  # fmt: skip
    assert {j.system: (j.env or {}).get("RUNNER_WARM") for j in jobs} == {
        "runner": "1",
        "runner-cold": "0",
    }
    assert len({j.command[-1] for j in jobs}) == len(jobs)  # each its own home


def test_the_step_start_probe_parts(tmp_path: Path) -> None:
    from bench.packages import CHAIN as PACKAGE_STEPS
    from bench.packages import packages_source
    from bench.step_start import forbidden_in, import_time_top, step_environment

    assert forbidden_in(["aiohttp.client", "rich", "richer", "runner.dsl.pipeline"]) == [
        "aiohttp",
        "rich",
        "runner.dsl.pipeline",
    ]
    figures = import_time_top(step_environment(tmp_path), top=5)
    assert figures["runner_step_main_us"] > 0
    assert len(figures["top_cumulative"]) == 5
    assert figures["top_cumulative"][0]["module"] == "runner.step.main"
    (tmp_path / "bench_packages_w8.py").write_text(packages_source())
    spec = load_pipeline(f"{tmp_path / 'bench_packages_w8.py'}:shared").pipeline.compile()
    assert len(spec.tasks) == PACKAGE_STEPS
    assert all(c.packages == ["tabulate"] for c in spec.components.values())
