"""A controller SIGKILLed mid-run and restarted: still one trace, each span once.

The controller runs as ``python -m runner.service`` against a nats-server
the test owns. It is killed while the first step runs; the step reports on
its own; a new controller applies the rest — ending the span of an attempt
the dead one launched — and the run's span.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.api import submit
from runner.bus.client import NatsBus
from runner.core import RunStatus
from runner.dsl.loader import LoadedPipeline
from runner.store.factory import open_store
from tests.fixtures.controllers import start_controller
from tests.integration.telemetry.conftest import SLOW_CHAIN
from tests.integration.telemetry.receiver import OtlpReceiver, Received, assert_one_tree
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def complete(run_id: str) -> Callable[[list[Received]], bool]:
    """The run span and, for each of a, b, c, its attempt span and its upload span."""

    def check(spans: list[Received]) -> bool:
        names = [s.name for s in spans if s.run_id() == run_id]
        steps = {f"step work{suffix}" for suffix in ("", "-2", "-3")}
        return (
            "run slowchain" in names
            and steps <= set(names)
            and names.count("upload outputs") >= len(steps)
        )

    return check


async def test_a_run_stays_one_trace_across_a_controller_kill_and_restart(
    tmp_path: Path,
    receiver: OtlpReceiver,  # before the controller_processes: it outlives their final flush
    otel_env: dict[str, str],
    private_nats_url: str,
    private_bus: NatsBus,
    controller_processes: list[subprocess.Popen[str]],
    write_pipeline: Callable[[str, str], LoadedPipeline],
) -> None:
    first = start_controller(tmp_path, private_nats_url, controller_processes)
    store = open_store((tmp_path / "store").as_uri())
    loaded = write_pipeline(SLOW_CHAIN, "slowchain")
    calls = tmp_path / "calls"
    calls.mkdir()
    handle = await submit(
        loaded.pipeline, {"log_dir": str(calls), "seconds": 2.0}, bus=private_bus, store=store,
        source_root=loaded.source_root,
    )  # fmt: skip
    # Step a runs: the first controller launched it.
    await until((calls / "a").exists, "step a to start", timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    second = start_controller(tmp_path, private_nats_url, controller_processes)
    state = await handle.wait(timeout=120)
    await store.close()
    assert state.status is RunStatus.SUCCEEDED, state.error
    await asyncio.to_thread(receiver.wait_for, complete(handle.run_id))

    run_ids = {s.trace_id for s in receiver.spans(handle.run_id)}
    assert len(run_ids) == 1, run_ids
    spans = [s for s in receiver.spans() if s.trace_id in run_ids]
    root = assert_one_tree(spans)
    assert root.name == "run slowchain"
    controller_pids = {s.resource["process.pid"] for s in spans if s.service == "runner-controller"}
    assert controller_pids == {first.pid, second.pid}  # both controller_processes traced into it

    steps = [s for s in spans if s.name.startswith("step ")]
    assert sorted(s.name for s in steps) == ["step work", "step work-2", "step work-3"]
    assert all(s.parent_id == root.span_id for s in steps)
    # Launched by the first controller, ended by the second: the span still starts
    # when the dead controller queued it (the time rides in the events' tracestate).
    (a,) = [s for s in steps if s.name == "step work"]
    assert a.resource["process.pid"] == second.pid
    assert a.start_ns == a.event_times["queued"]
    assert a.event_times["queued"] < a.event_times["started"]
    fetch = [
        s for s in spans if s.name == "fetch inputs" and s.resource.get("runner.step") == "work"
    ]
    assert [s.parent_id for s in fetch] == [a.span_id]
