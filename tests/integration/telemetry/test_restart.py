"""A controller SIGKILLed mid-run and restarted: still one trace, each span once.

The controller runs as ``python -m runner.service`` against a nats-server
the test owns. It is killed while the first step runs; the step reports on
its own; a new controller applies the rest — ending the span of an attempt
the dead one launched — and the run's span.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from runner.api import submit
from runner.bus import EmbeddedNats, connect
from runner.bus.client import NatsBus
from runner.config import NatsSettings
from runner.core import RunStatus
from runner.dsl.loader import LoadedPipeline
from runner.store.factory import open_store
from tests.integration.telemetry.conftest import SLOW_CHAIN
from tests.integration.telemetry.receiver import OtlpReceiver, Received, assert_one_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    server = EmbeddedNats(tmp_path / "nats")
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsBus]:
    client = await connect(NatsSettings(), url=nats_url)
    await client.ensure_streams()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def controllers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def start_controller(
    tmp_path: Path, nats_url: str, started: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "RUNNER_HOME": str(tmp_path / "home"),
        "RUNNER_STORE": (tmp_path / "store").as_uri(),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.service"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(proc)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "ready" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"controller did not become ready (exit {proc.poll()})")


async def wait_for_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.05)


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
    receiver: OtlpReceiver,  # before the controllers: it outlives their final flush
    otel_env: dict[str, str],
    nats_url: str,
    bus: NatsBus,
    controllers: list[subprocess.Popen[str]],
    write_pipeline: Callable[[str, str], LoadedPipeline],
) -> None:
    first = start_controller(tmp_path, nats_url, controllers)
    store = open_store((tmp_path / "store").as_uri())
    loaded = write_pipeline(SLOW_CHAIN, "slowchain")
    calls = tmp_path / "calls"
    calls.mkdir()
    handle = await submit(
        loaded.pipeline, {"log_dir": str(calls), "seconds": 2.0}, bus=bus, store=store,
        source_root=loaded.source_root,
    )  # fmt: skip
    await wait_for_file(calls / "a")  # step a runs: the first controller launched it
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    second = start_controller(tmp_path, nats_url, controllers)
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
    assert controller_pids == {first.pid, second.pid}  # both controllers traced into it

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
