"""Controllers as separate processes: SIGKILL and restart, and two at once.

The controller runs as ``python -m runner.service`` against a nats-server the
test owns, so killing the controller loses nothing but the controller.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from runner.api import submit
from runner.bus.client import NatsBus
from runner.core import RunStatus
from runner.store.factory import open_store
from tests.fixtures.controllers import start_controller
from tests.integration.runtime.conftest import count_calls
from tests.integration.runtime.pipelines import CHAIN
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_controller_killed_mid_run_and_restarted(
    tmp_path: Path,
    private_nats_url: str,
    private_bus: NatsBus,
    controller_processes,
    write_pipeline,
    calls: Path,
) -> None:
    first = start_controller(tmp_path, private_nats_url, controller_processes)
    store = open_store((tmp_path / "store").as_uri())
    loaded = write_pipeline(CHAIN, "chain")
    handle = await submit(
        loaded.pipeline,
        {"log_dir": str(calls), "seconds": 2.0},
        bus=private_bus,
        store=store,
        source_root=loaded.source_root,
    )
    await until(lambda: count_calls(calls, "a") == 1, "step a to start", timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # The step keeps running on its own and reports while no controller is up.
    start_controller(tmp_path, private_nats_url, controller_processes)
    state = await handle.wait(timeout=120)
    await store.close()
    assert state.status is RunStatus.SUCCEEDED, state.error
    assert [count_calls(calls, s) for s in "abc"] == [1, 1, 1]
    assert state.steps["work-3"].parameters["output"] == 3


async def test_two_controllers_launch_each_attempt_once(
    tmp_path: Path,
    private_nats_url: str,
    private_bus: NatsBus,
    controller_processes,
    write_pipeline,
    calls: Path,
) -> None:
    start_controller(tmp_path, private_nats_url, controller_processes)
    start_controller(tmp_path, private_nats_url, controller_processes)
    store = open_store((tmp_path / "store").as_uri())
    loaded = write_pipeline(CHAIN, "fan")
    handles = []
    for i in range(3):
        (calls / str(i)).mkdir()
        handles.append(
            await submit(
                loaded.pipeline,
                {"log_dir": str(calls / str(i))},
                bus=private_bus,
                store=store,
                source_root=loaded.source_root,
            )
        )
    states = [await h.wait(timeout=120) for h in handles]
    await store.close()
    for i, state in enumerate(states):
        assert state.status is RunStatus.SUCCEEDED, state.error
        assert [count_calls(calls / str(i), f"w{k}") for k in range(8)] == [1] * 8
