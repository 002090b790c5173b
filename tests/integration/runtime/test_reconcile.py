"""Attempts that die while no controller watches them, and reports nobody may forge.

Controllers run as ``python -m runner.service`` processes against a
nats-server the test owns, so the test can SIGKILL a controller *and* its
running step (as a crash of the machine would, minus NATS), then start a new
controller and see the run through: the lost attempt is found by
reconciliation, reported ``Lost`` and relaunched once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.api import RunHandle, submit
from runner.bus.client import NatsBus
from runner.core import RunStatus, StepStatus
from runner.events.auth import ReportKeys, sign
from runner.events.codec import encode
from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import RunRequested, StepFailed, StepSucceeded
from runner.process_identity import ProcessIdentity, boot_id
from runner.stack import Stack
from runner.store.base import ArtifactStore
from runner.store.factory import open_store
from tests.fixtures.controllers import start_controller
from tests.integration.runtime.conftest import count_calls
from tests.integration.runtime.pipelines import CHAIN
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def until_end(handle: RunHandle) -> AsyncIterator[Event]:
    stream = handle.events()
    try:
        async for event in stream:
            yield event
            if event.kind in (EventKind.RUN_SUCCEEDED, EventKind.RUN_FAILED):
                return
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def alive(pid: int) -> bool:
    return ProcessIdentity.of(pid) is not None


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return open_store((tmp_path / "store").as_uri())


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process whose pid a stale pid file will name."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


async def crash_mid_step(
    tmp_path: Path,
    nats_url: str,
    bus: NatsBus,
    store: ArtifactStore,
    controllers: list[subprocess.Popen[str]],
    write_pipeline,  # type: ignore[no-untyped-def]
    calls: Path,
) -> RunHandle:
    """Submit the chain, then SIGKILL its controller and its running first step."""
    controller = start_controller(tmp_path, nats_url, controllers)
    loaded = write_pipeline(CHAIN, "chain")
    handle = await submit(
        loaded.pipeline,
        {"log_dir": str(calls), "seconds": 3.0},
        bus=bus,
        store=store,
        source_root=loaded.source_root,
    )
    await until(lambda: count_calls(calls, "a") == 1, "the first step to start", timeout=60)
    step_pid = int((calls / "a").read_text().split()[0])
    controller.send_signal(signal.SIGKILL)
    controller.wait(timeout=10)
    os.killpg(step_pid, signal.SIGKILL)  # the step's whole process group, as a crash would
    await until(lambda: not alive(step_pid), "the step to die", timeout=60)
    return handle


async def test_an_attempt_lost_with_its_controller_is_relaunched_once(
    tmp_path: Path, private_nats_url: str, private_bus: NatsBus, store: ArtifactStore,
    controller_processes, write_pipeline, calls: Path,
) -> None:  # fmt: skip
    handle = await crash_mid_step(
        tmp_path, private_nats_url, private_bus, store, controller_processes, write_pipeline,
        calls,
    )  # fmt: skip
    start_controller(tmp_path, private_nats_url, controller_processes)
    state = await handle.wait(timeout=120)
    await store.close()
    assert state.status is RunStatus.SUCCEEDED, state.error
    # Only the step in flight ran twice; the others once.
    assert [count_calls(calls, s) for s in "abc"] == [2, 1, 1]
    first = state.steps["work"]
    assert (first.attempt, first.lost) == (2, 1)
    assert state.steps["work-3"].parameters["output"] == 3
    failures = [e async for e in until_end(handle) if e.kind is EventKind.STEP_FAILED]
    assert len(failures) == 1
    assert isinstance(failures[0].data, StepFailed)
    lost = failures[0].data.error
    assert (failures[0].step, failures[0].data.attempt, lost.reason) == ("work", 1, "Lost")
    assert "no controller watched it" in lost.message
    assert failures[0].source == "/runner/executor/local"


async def test_a_cancel_of_a_lost_attempt_completes(
    tmp_path: Path, private_nats_url: str, private_bus: NatsBus, store: ArtifactStore,
    controller_processes, write_pipeline, calls: Path,
) -> None:  # fmt: skip
    handle = await crash_mid_step(
        tmp_path, private_nats_url, private_bus, store, controller_processes, write_pipeline,
        calls,
    )  # fmt: skip
    await handle.cancel("while nobody watched")
    start_controller(tmp_path, private_nats_url, controller_processes)
    state = await handle.wait(timeout=60)
    await store.close()
    assert state.status is RunStatus.CANCELLED
    assert state.steps["work"].status is StepStatus.CANCELLED
    assert count_calls(calls, "a") == 1


@pytest.mark.parametrize("form", ["reused pid", "bare pid"])
async def test_a_stale_pid_file_never_gets_an_unrelated_process_killed(
    tmp_path: Path, private_nats_url: str, private_bus: NatsBus, store: ArtifactStore,
    controller_processes, write_pipeline, calls: Path, sleeper: subprocess.Popen[bytes],
    form: str,
) -> None:  # fmt: skip
    handle = await crash_mid_step(
        tmp_path, private_nats_url, private_bus, store, controller_processes, write_pipeline,
        calls,
    )  # fmt: skip
    # After a crash (or a reboot) the recorded pid now names another process.
    pid_file = tmp_path / "home" / "executions" / handle.run_id / "work" / "1" / "pid"
    real = ProcessIdentity.of(sleeper.pid)
    assert real is not None
    assert real.started is not None
    if form == "reused pid":
        stale = {"pid": sleeper.pid, "started": real.started - 1000, "boot_id": boot_id()}
        pid_file.write_text(json.dumps(stale))
    else:
        pid_file.write_text(str(sleeper.pid))  # an old-format file: unverifiable
    await handle.cancel("stale pid")
    start_controller(tmp_path, private_nats_url, controller_processes)
    state = await handle.wait(timeout=60)
    await store.close()
    assert state.status is RunStatus.CANCELLED
    assert sleeper.poll() is None, "an unrelated process was signalled"


async def test_sigterm_of_the_controller_mid_step_then_restart_succeeds(
    tmp_path: Path, private_nats_url: str, private_bus: NatsBus, store: ArtifactStore,
    controller_processes, write_pipeline, calls: Path,
) -> None:  # fmt: skip
    controller = start_controller(tmp_path, private_nats_url, controller_processes)
    loaded = write_pipeline(CHAIN, "chain")
    handle = await submit(
        loaded.pipeline, {"log_dir": str(calls), "seconds": 3.0}, bus=private_bus, store=store,
        source_root=loaded.source_root,
    )  # fmt: skip
    await until(lambda: count_calls(calls, "a") == 1, "the first step to start", timeout=60)
    step_pid = int((calls / "a").read_text().split()[0])
    controller.send_signal(signal.SIGTERM)
    assert controller.wait(timeout=30) == 0
    assert not alive(step_pid), "the controller's steps stop with it"
    start_controller(tmp_path, private_nats_url, controller_processes)
    state = await handle.wait(timeout=120)
    await store.close()
    assert state.status is RunStatus.SUCCEEDED, state.error
    assert [count_calls(calls, s) for s in "abc"] == [2, 1, 1]
    error = state.steps["work"].error
    assert error is None  # cleared by the relaunch's success


async def test_a_forged_report_is_rejected_and_the_real_one_wins(
    stack: Stack, write_pipeline, calls: Path
) -> None:
    assert stack.controller is not None
    loaded = write_pipeline(CHAIN, "chain")
    handle = await submit(
        loaded.pipeline, {"log_dir": str(calls), "seconds": 2.0}, bus=stack.bus,
        store=stack.store, source_root=loaded.source_root,
    )  # fmt: skip
    await until(lambda: count_calls(calls, "a") == 1, "the first step to start", timeout=60)
    before = stack.controller.stats.dead_lettered

    def forged(auth: str | None) -> Event:
        event = make_event(
            EventKind.STEP_SUCCEEDED, run_id=handle.run_id, pipeline="chain", step="work",
            attempt=1, component="step", time=datetime.now(UTC),
            data=StepSucceeded(attempt=1, parameters={"output": 999}),
        )  # fmt: skip
        return event.model_copy(update={"auth": auth})

    wrong_key = ReportKeys(b"not the controller's key at all!")
    fakes = [
        forged(None),  # unsigned
        forged("v1." + "0" * 64),  # a made-up signature
        sign(forged(None), wrong_key.attempt_token(handle.run_id, "work", 1)),  # another key
    ]
    for n, fake in enumerate(fakes):
        body, headers = encode(fake)
        if n:  # the first one takes the real report's event id as its Nats-Msg-Id
            headers["Nats-Msg-Id"] = f"forgery-{n}"
        assert n or headers["Nats-Msg-Id"] == f"{handle.run_id}/work/1/step.succeeded"
        await stack.bus.publish_raw(fake.subject, body, headers)
    state = await handle.wait(timeout=120)
    assert state.status is RunStatus.SUCCEEDED, state.error
    assert state.steps["work"].parameters["output"] == 1
    assert state.steps["work-3"].parameters["output"] == 3
    assert stack.controller.stats.dead_lettered - before == len(fakes)


async def test_a_run_whose_spec_cannot_be_loaded_is_recorded_as_failed(stack: Stack) -> None:
    assert stack.controller is not None
    before = stack.controller.stats.dead_lettered
    missing = stack.store.uri.rstrip("/") + "/pipelines/ghost/" + "0" * 64 + ".json"
    request = make_event(
        EventKind.RUN_REQUESTED, run_id="ghost-run", pipeline="ghost", time=datetime.now(UTC),
        component="cli",
        data=RunRequested(pipeline="ghost", pipeline_digest="0" * 64, spec_uri=missing),
    )  # fmt: skip
    await stack.bus.publish(request)
    handle = RunHandle(bus=stack.bus, run_id="ghost-run", pipeline="ghost")
    state = await handle.wait(timeout=30)
    assert state.status is RunStatus.FAILED
    assert state.error is not None
    assert state.error.reason == "SpecUnavailable"
    assert "ghost" in state.error.message
    assert stack.controller.stats.dead_lettered == before  # recorded, not dead-lettered
