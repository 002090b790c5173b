"""Controllers as separate processes: SIGKILL and restart, and two at once.

The controller runs as ``python -m runner.service`` against a nats-server the
test owns, so killing the controller loses nothing but the controller.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runner.api import submit
from runner.bus import EmbeddedNats, connect
from runner.bus.client import NatsBus
from runner.config import NatsSettings
from runner.core import RunStatus
from runner.store.factory import open_store
from tests.integration.runtime.conftest import count_calls
from tests.integration.runtime.pipelines import CHAIN

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
def controllers(tmp_path: Path, nats_url: str) -> Iterator[list[subprocess.Popen[str]]]:
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


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsBus]:
    client = await connect(NatsSettings(), url=nats_url)
    await client.ensure_streams()
    try:
        yield client
    finally:
        await client.close()


async def wait_for(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_controller_killed_mid_run_and_restarted(
    tmp_path: Path, nats_url: str, bus: NatsBus, controllers, write_pipeline, calls: Path
) -> None:
    first = start_controller(tmp_path, nats_url, controllers)
    store = open_store((tmp_path / "store").as_uri())
    loaded = write_pipeline(CHAIN, "chain")
    handle = await submit(
        loaded.pipeline,
        {"log_dir": str(calls), "seconds": 2.0},
        bus=bus,
        store=store,
        source_root=loaded.source_root,
    )
    await wait_for(lambda: count_calls(calls, "a") == 1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # The step keeps running on its own and reports while no controller is up.
    start_controller(tmp_path, nats_url, controllers)
    state = await handle.wait(timeout=120)
    await store.close()
    assert state.status is RunStatus.SUCCEEDED, state.error
    assert [count_calls(calls, s) for s in "abc"] == [1, 1, 1]
    assert state.steps["work-3"].parameters["output"] == 3


async def test_two_controllers_launch_each_attempt_once(
    tmp_path: Path, nats_url: str, bus: NatsBus, controllers, write_pipeline, calls: Path
) -> None:
    start_controller(tmp_path, nats_url, controllers)
    start_controller(tmp_path, nats_url, controllers)
    store = open_store((tmp_path / "store").as_uri())
    loaded = write_pipeline(CHAIN, "fan")
    handles = []
    for i in range(3):
        (calls / str(i)).mkdir()
        handles.append(
            await submit(
                loaded.pipeline,
                {"log_dir": str(calls / str(i))},
                bus=bus,
                store=store,
                source_root=loaded.source_root,
            )
        )
    states = [await h.wait(timeout=120) for h in handles]
    await store.close()
    for i, state in enumerate(states):
        assert state.status is RunStatus.SUCCEEDED, state.error
        assert [count_calls(calls / str(i), f"w{k}") for k in range(8)] == [1] * 8
