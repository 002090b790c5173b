"""Warm workers (forked attempts) and cold starts keep the same guarantees.

Every fault is run on both paths: ``warm`` forks the attempt from a zygote,
``cold`` starts ``python -m runner.step``. A component notes its pid, parent,
process group and environment, so a test can tell which path ran it (a warm
attempt's parent is its zygote; a cold one's is this process).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runner.api import submit
from runner.config import LocalExecutorSettings, Settings
from runner.core import RunStatus, StepStatus
from runner.events.kinds import EventKind
from runner.executors.local import LocalExecutor
from runner.process_identity import ProcessIdentity
from runner.stack import Stack
from tests.waiting import until

pytestmark = pytest.mark.integration

WARM = """
import ctypes
import json
import os
import signal
import sys
import time

from runner import component, pipeline


def _note(log_dir: str, name: str) -> None:
    info = {
        "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
        "foo": os.environ.get("FOO"), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cwd": os.getcwd(),
    }
    with open(os.path.join(log_dir, name), "a") as fh:
        fh.write(json.dumps(info) + "\\n")


@component
def ends(log_dir: str, how: str) -> int:
    _note(log_dir, "ends")
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "exit3":
        os._exit(3)
    elif how == "segfault":
        ctypes.string_at(0)
    elif how == "sleep":
        time.sleep(120)
    print("to stdout: hello from", how)
    print("to stderr: hello from", how, file=sys.stderr)
    return 0


@component
def waits(log_dir: str, go: str) -> int:
    _note(log_dir, "waits")
    while not os.path.exists(go):
        time.sleep(0.02)
    return 1


@component(warm=False)
def cold_only(log_dir: str) -> int:
    _note(log_dir, "cold_only")
    return 2


@pipeline(name="ends")
def ends_p(log_dir: str = "", how: str = ""):
    ends(log_dir=log_dir, how=how).set_caching(False).set_env(FOO="bar")


@pipeline(name="timed")
def timed_p(log_dir: str = "", how: str = ""):
    ends(log_dir=log_dir, how=how).set_caching(False).set_timeout(2)


@pipeline(name="gpu")
def gpu_p(log_dir: str = ""):
    ends(log_dir=log_dir, how="ok").set_caching(False).set_resources(gpu=1)


@pipeline(name="waiting")
def waiting_p(log_dir: str = "", go: str = ""):
    waits(log_dir=log_dir, go=go).set_caching(False)


@pipeline(name="pythonpath")
def pythonpath_p(log_dir: str = ""):
    ends(log_dir=log_dir, how="ok").set_caching(False).set_env(PYTHONPATH="/nonexistent")


@pipeline(name="optout")
def optout_p(log_dir: str = ""):
    cold_only(log_dir=log_dir).set_caching(False)
"""

THREADED = """
import json
import os
import threading
import time

from runner import component, pipeline

threading.Thread(target=time.sleep, args=(300,), daemon=True, name="started-at-import").start()


@component
def threaded(log_dir: str) -> int:
    with open(os.path.join(log_dir, "threaded"), "a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}) + "\\n")
    return 3


@pipeline(name="threaded")
def threaded_p(log_dir: str = ""):
    threaded(log_dir=log_dir).set_caching(False)
"""


def notes(calls: Path, name: str) -> list[dict[str, Any]]:
    path = calls / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def alive(pid: int) -> bool:
    return ProcessIdentity.of(pid) is not None


def local_settings(*, warm: bool, **values: Any) -> LocalExecutorSettings:
    # model_copy: ``warm`` has environment aliases (RUNNER_WARM, RUNNER_LOCAL_WARM), and
    # the settings class does not populate it by its field name.
    return LocalExecutorSettings(**values).model_copy(update={"warm": warm})


@pytest.fixture(params=["warm", "cold"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def stack(tmp_path: Path, mode: str) -> AsyncIterator[Stack]:
    local = local_settings(warm=mode == "warm", gpus="0")
    async with Stack(Settings(home=tmp_path / "home", local=local)) as running:
        yield running


def executor(stack: Stack) -> LocalExecutor:
    assert isinstance(stack.executor, LocalExecutor)
    return stack.executor


async def start(stack: Stack, loaded, calls: Path, **params):  # type: ignore[no-untyped-def]
    return await submit(
        loaded.pipeline,
        {"log_dir": str(calls), **params},
        bus=stack.bus,
        store=stack.store,
        source_root=loaded.source_root,
    )


def check_path(mode: str, note: dict[str, Any]) -> None:
    """The attempt ran the way ``mode`` says, in its own process group."""
    assert note["pgid"] == note["pid"], "an attempt leads its own process group"
    if mode == "warm":
        assert note["ppid"] != os.getpid(), "a warm attempt is a fork of its zygote"
        assert note["pid"] != note["ppid"]
    else:
        assert note["ppid"] == os.getpid(), "a cold attempt is this process's child"


async def run_warm_twice(stack: Stack, loaded: Any, calls: Path, mode: str, **params: Any) -> Any:
    """The first run warms the zygote up (and preloads the module); the second is the test."""
    if mode == "warm":
        first = await (await start(stack, loaded, calls, how="ok")).wait(timeout=120)
        assert first.status is RunStatus.SUCCEEDED
    return await (await start(stack, loaded, calls, **params)).wait(timeout=120)


@pytest.mark.parametrize(
    ("how", "reason", "exit_code", "sig"),
    [
        ("sigkill", "Killed", None, signal.SIGKILL),
        ("exit3", "ExitCode", 3, None),
        ("segfault", "Signal", None, signal.SIGSEGV),
    ],
)
async def test_an_attempt_that_dies_is_reported_with_its_exit_status(
    stack: Stack, calls: Path, write_pipeline, mode: str, how: str, reason: str,
    exit_code: int | None, sig: int | None,
) -> None:  # fmt: skip
    state = await run_warm_twice(stack, write_pipeline(WARM, "ends_p"), calls, mode, how=how)
    assert state.status is RunStatus.FAILED
    error = state.steps["ends"].error
    assert error is not None
    assert (error.reason, error.exit_code, error.signal) == (reason, exit_code, sig)
    check_path(mode, notes(calls, "ends")[-1])


async def test_a_timeout_kills_the_attempt(
    stack: Stack, calls: Path, write_pipeline, mode: str
) -> None:
    loaded = write_pipeline(WARM, "timed_p")
    state = await run_warm_twice(stack, loaded, calls, mode, how="sleep")
    assert state.status is RunStatus.FAILED
    error = state.steps["ends"].error
    assert error is not None
    assert error.reason == "Timeout"
    note = notes(calls, "ends")[-1]
    check_path(mode, note)
    await until(lambda: not alive(note["pid"]), "the timed-out attempt to be gone", timeout=10)


async def test_a_cancel_kills_the_attempts_process_group(
    stack: Stack, calls: Path, write_pipeline, mode: str
) -> None:
    loaded = write_pipeline(WARM, "ends_p")
    if mode == "warm":
        await (await start(stack, loaded, calls, how="ok")).wait(timeout=120)
    handle = await start(stack, loaded, calls, how="sleep")
    await until(lambda: len(notes(calls, "ends")) == (2 if mode == "warm" else 1),
                "the attempt to start", timeout=60)  # fmt: skip
    note = notes(calls, "ends")[-1]
    check_path(mode, note)
    argv = Path(f"/proc/{note['pid']}/cmdline").read_bytes().split(b"\0")
    assert [a for a in argv if a][1:4] == [b"-m", b"runner.step", b"--request"], "as ps shows it"
    await handle.cancel()
    state = await handle.wait(timeout=60)
    assert state.status is RunStatus.CANCELLED
    assert state.steps["ends"].status is StepStatus.CANCELLED
    await until(lambda: not alive(note["pid"]), "the cancelled attempt to be gone", timeout=10)


async def test_the_attempt_has_its_own_process_env_directory_and_log(
    stack: Stack, calls: Path, write_pipeline, mode: str
) -> None:
    state = await run_warm_twice(stack, write_pipeline(WARM, "ends_p"), calls, mode, how="ok")
    assert state.status is RunStatus.SUCCEEDED
    note = notes(calls, "ends")[-1]
    check_path(mode, note)
    assert note["foo"] == "bar", "the task's env reaches the attempt"
    attempt_dir = stack.settings.home / "executions" / state.run_id / "ends" / "1"
    assert Path(note["cwd"]).resolve() == attempt_dir.resolve()
    log = (attempt_dir / "log.txt").read_text()
    assert "to stdout: hello from ok" in log
    assert "to stderr: hello from ok" in log
    identity = json.loads((attempt_dir / "pid").read_text())
    assert identity["pid"] == note["pid"], "the identity file names the attempt, not its zygote"


async def test_the_gpu_env_var_is_set_in_the_attempt(
    stack: Stack, calls: Path, write_pipeline, mode: str
) -> None:
    loaded = write_pipeline(WARM, "gpu_p")
    for _ in range(2 if mode == "warm" else 1):
        state = await (await start(stack, loaded, calls)).wait(timeout=120)
        assert state.status is RunStatus.SUCCEEDED
    note = notes(calls, "ends")[-1]
    check_path(mode, note)
    assert note["cuda"] == "0"


async def test_a_component_can_opt_out_of_warm_workers(
    stack: Stack, calls: Path, write_pipeline, mode: str
) -> None:
    loaded = write_pipeline(WARM, "optout_p")
    for _ in range(2):
        state = await (await start(stack, loaded, calls)).wait(timeout=120)
        assert state.status is RunStatus.SUCCEEDED
    assert [n["ppid"] for n in notes(calls, "cold_only")] == [os.getpid()] * 2
    if mode == "warm":
        warm = executor(stack).warm
        assert warm is not None
        assert any("opted out" in reason for reason in warm.cold_starts)


async def test_a_task_that_sets_an_interpreter_startup_variable_starts_cold(
    tmp_path: Path, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(WARM, "pythonpath_p")
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        for _ in range(2):
            state = await (await start(stack, loaded, calls)).wait(timeout=120)
            assert state.status is RunStatus.SUCCEEDED
        assert [n["ppid"] for n in notes(calls, "ends")] == [os.getpid()] * 2
        warm = executor(stack).warm
        assert warm is not None
        assert warm.cold_starts == {
            "task 'ends' sets PYTHONPATH, which an interpreter reads only when it starts": 2
        }


async def test_a_module_that_starts_a_thread_at_import_is_not_preloaded_and_runs_cold(
    tmp_path: Path, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(THREADED, "threaded_p")
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        warm = executor(stack).warm
        assert warm is not None
        first = await (await start(stack, loaded, calls)).wait(timeout=120)
        assert first.status is RunStatus.SUCCEEDED
        # After the first attempt its module is preloaded into the zygote, which then
        # has a second thread: it refuses to fork, and the module is marked.
        reasons = await until(warm.cold_modules, "the preload to be refused", timeout=60)
        (module, reason), = reasons.items()  # fmt: skip
        assert module.startswith("pipe_threaded_p_")
        assert "started 1 thread(s) (started-at-import)" in reason
        second = await (await start(stack, loaded, calls)).wait(timeout=120)
        assert second.status is RunStatus.SUCCEEDED
        assert second.steps["threaded"].parameters["output"] == 3
        assert notes(calls, "threaded")[-1]["ppid"] == os.getpid(), "it started cold"
        assert any(reason.startswith("preloading its module") for reason in warm.cold_starts)


async def test_a_zygote_killed_mid_run_loses_no_attempt(
    tmp_path: Path, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(WARM, "waiting_p")
    go = tmp_path / "go"
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        go.touch()
        await (await start(stack, loaded, calls, go=str(go))).wait(timeout=120)  # warms up
        go.unlink()
        handle = await start(stack, loaded, calls, go=str(go))
        await until(lambda: len(notes(calls, "waits")) == 2, "the attempt to start", timeout=60)
        note = notes(calls, "waits")[-1]
        zygote = note["ppid"]
        assert zygote != os.getpid()
        os.kill(zygote, signal.SIGKILL)
        await until(lambda: not alive(zygote), "the zygote to die", timeout=10)
        assert alive(note["pid"]), "its attempt outlives it"
        go.touch()
        state = await handle.wait(timeout=60)
        assert state.status is RunStatus.SUCCEEDED
        assert state.steps["waits"].attempt == 1
        # The next attempt gets a new zygote.
        state = await (await start(stack, loaded, calls, go=str(go))).wait(timeout=120)
        assert state.status is RunStatus.SUCCEEDED
        assert notes(calls, "waits")[-1]["ppid"] not in (zygote, os.getpid())


async def test_an_attempt_that_dies_after_its_zygote_is_relaunched(
    tmp_path: Path, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(WARM, "waiting_p")
    go = tmp_path / "go"
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        go.touch()
        await (await start(stack, loaded, calls, go=str(go))).wait(timeout=120)
        go.unlink()
        handle = await start(stack, loaded, calls, go=str(go))
        await until(lambda: len(notes(calls, "waits")) == 2, "the attempt to start", timeout=60)
        note = notes(calls, "waits")[-1]
        os.kill(note["ppid"], signal.SIGKILL)
        await until(lambda: not alive(note["ppid"]), "the zygote to die", timeout=10)
        os.kill(note["pid"], signal.SIGKILL)  # nobody can read its exit status now
        await until(lambda: len(notes(calls, "waits")) == 3, "the relaunch", timeout=60)
        go.touch()
        state = await handle.wait(timeout=60)
        assert state.status is RunStatus.SUCCEEDED
        assert state.steps["waits"].attempt == 2
        failures = [
            e.data for e in await _events(handle) if e.kind is EventKind.STEP_FAILED
        ]  # fmt: skip
        assert len(failures) == 1
        assert failures[0].error.reason == "Lost"
        assert "exit status unknown: its warm worker" in failures[0].error.message


async def _events(handle: Any) -> list[Any]:
    seen: list[Any] = []
    stream = handle.events()
    try:
        async for event in stream:
            seen.append(event)
            if event.kind in (EventKind.RUN_SUCCEEDED, EventKind.RUN_FAILED):
                return seen
    finally:
        await stream.aclose()
    return seen


async def test_zygotes_are_stopped_with_the_executor(
    tmp_path: Path, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(WARM, "ends_p")
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        for _ in range(2):
            state = await (await start(stack, loaded, calls, how="ok")).wait(timeout=120)
            assert state.status is RunStatus.SUCCEEDED
        warm = executor(stack).warm
        assert warm is not None
        pids = warm.pids()
        assert pids
        assert notes(calls, "ends")[-1]["ppid"] in pids
        path = tmp_path / "home" / "warm" / "status.json"

        def forks() -> list[tuple[int, int]]:
            return [(z["pid"], z["forks"]) for z in json.loads(path.read_text())["zygotes"]]

        await until(lambda: forks() == [(pids[0], 2)], "the status file to count both forks",
                    timeout=10, detail=lambda: path.read_text())  # fmt: skip
    assert [pid for pid in pids if alive(pid)] == []
    assert not (tmp_path / "home" / "warm" / "status.json").exists()


def sleeping_request(stack: Stack, run_id: str, seconds: float) -> Any:
    """A container step that sleeps: no code package, reports on the stack's NATS."""
    from tests.unit.executors.requests import make_request

    request = make_request(container=True, run_id=run_id)
    assert request.component.container is not None
    argv = ["sh", "-c", f"sleep {seconds}"]
    command = request.component.container.model_copy(update={"command": argv})
    component = request.component.model_copy(update={"container": command})
    update = {"component": component, "store_uri": stack.store.uri, "nats_url": stack.nats_url}
    return request.model_copy(update={**update, "env": {}})


async def test_an_attempt_outlives_its_executor_and_zygote_and_is_adopted(
    tmp_path: Path, mode: str, stack: Stack
) -> None:
    from runner.executors.base import AttemptInfo

    request = sleeping_request(stack, "adopt-20250101-120000-abc123", seconds=2)
    reported: list[Any] = []

    async def publish(event: Any) -> None:
        reported.append(event)

    home = tmp_path / "shared-home"
    settings = local_settings(warm=mode == "warm")
    state_dir = home / "executions" / request.run_id / request.step / "1"
    one = LocalExecutor(home=home, store=stack.store, publish=publish, settings=settings,
                        kill_on_close=False)  # fmt: skip
    two = LocalExecutor(home=home, store=stack.store, publish=publish, settings=settings)
    try:
        await one.launch(request)
        pid_file = state_dir / "pid"
        await until(pid_file.exists, "the attempt to start", timeout=30)
        attempt = json.loads(pid_file.read_text())["pid"]
        zygotes = one.warm.pids() if one.warm is not None else []
        assert bool(zygotes) is (mode == "warm")
        await one.aclose()  # its controller stops and leaves the step running
        assert [pid for pid in zygotes if alive(pid)] == []
        assert alive(attempt), "the attempt outlives its executor and its zygote"
        await two.reconcile([AttemptInfo.of(request)])
        await two.wait_idle()
        assert not alive(attempt)
        assert (state_dir / "reported").exists()
        assert reported == [], "the step reported itself; the adopter had nothing to add"
        assert two.launched == 0
    finally:
        await asyncio.gather(one.aclose(), two.aclose())


async def test_two_executors_launching_one_attempt_run_it_once(
    tmp_path: Path, mode: str, stack: Stack
) -> None:
    request = sleeping_request(stack, "twice-20250101-120000-abc123", seconds=1)
    reported: list[Any] = []

    async def publish(event: Any) -> None:
        reported.append(event)

    home = tmp_path / "shared-home"
    settings = local_settings(warm=mode == "warm")
    one = LocalExecutor(home=home, store=stack.store, publish=publish, settings=settings)
    two = LocalExecutor(home=home, store=stack.store, publish=publish, settings=settings)
    try:
        await asyncio.gather(one.launch(request), two.launch(request))
        await asyncio.gather(one.wait_idle(), two.wait_idle())
        assert one.launched + two.launched == 1
        assert reported == [], "the step reported itself; neither executor reported a failure"
        state_dir = home / "executions" / request.run_id / request.step / "1"
        assert (state_dir / "reported").exists()
    finally:
        await asyncio.gather(one.aclose(), two.aclose())


NEEDS_TASK_ENV = """
import json
import os

from runner import component, pipeline

# In a step FOO is set (the task's env); in a zygote (which hides the GPUs) it is not.
if os.environ.get("CUDA_VISIBLE_DEVICES") == "" and os.environ.get("FOO") != "bar":
    raise RuntimeError("FOO is not set")


@component
def env_at_import(log_dir: str) -> int:
    with open(os.path.join(log_dir, "env_at_import"), "a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}) + "\\n")
    return 4


@pipeline(name="env-at-import")
def env_at_import_p(log_dir: str = ""):
    env_at_import(log_dir=log_dir).set_caching(False).set_env(FOO="bar")
"""

SLOW_IMPORT = """
import json
import os
import sys
import time

from runner import component, pipeline

if sys.argv[0].endswith("zygote.py"):  # only when a warm worker preloads it
    print("importing slowly", file=sys.stderr, flush=True)
    time.sleep(3)


@component
def slow_import(log_dir: str) -> int:
    with open(os.path.join(log_dir, "slow_import"), "a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}) + "\\n")
    return 5


@pipeline(name="slow-import")
def slow_import_p(log_dir: str = ""):
    slow_import(log_dir=log_dir).set_caching(False)
"""

BIG = """
import json
import os

from runner import component, pipeline

_BLOB = b"x" * (96 * 1024 * 1024)  # imported once per zygote: it grows past warm_max_rss_mb


@component
def big(log_dir: str) -> int:
    with open(os.path.join(log_dir, "big"), "a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}) + "\\n")
    return len(_BLOB) // (1024 * 1024)


@pipeline(name="big")
def big_p(log_dir: str = ""):
    big(log_dir=log_dir).set_caching(False)
"""


async def test_warm_max_bounds_the_zygotes_least_recently_used_first(
    tmp_path: Path, calls: Path, write_pipeline
) -> None:
    one, two = write_pipeline(WARM, "waiting_p"), write_pipeline(WARM, "waiting_p")
    go = tmp_path / "go"
    go.touch()
    settings = Settings(home=tmp_path / "home", local=local_settings(warm=True, warm_max=1))
    async with Stack(settings) as stack:
        warm = executor(stack).warm
        assert warm is not None
        await (await start(stack, one, calls, go=str(go))).wait(timeout=120)
        first = notes(calls, "waits")[-1]["ppid"]
        await (await start(stack, two, calls, go=str(go))).wait(timeout=120)
        second = notes(calls, "waits")[-1]["ppid"]
        assert second not in (first, os.getpid()), "the second code package got its own zygote"
        await until(lambda: not alive(first), "the idle zygote to be stopped for it", timeout=20)
        assert warm.pids() == [second]
        # Its only zygote is busy: an attempt of another code package starts cold.
        loaded = write_pipeline(WARM, "ends_p")
        go.unlink()
        busy = await start(stack, two, calls, go=str(go))
        await until(lambda: len(notes(calls, "waits")) == 3, "the busy attempt", timeout=60)
        state = await (await start(stack, loaded, calls, how="ok")).wait(timeout=120)
        assert state.status is RunStatus.SUCCEEDED
        assert notes(calls, "ends")[-1]["ppid"] == os.getpid()
        assert "all 1 warm workers are busy (warm_max)" in warm.cold_starts
        go.touch()
        assert (await busy.wait(timeout=60)).status is RunStatus.SUCCEEDED


async def test_a_zygote_past_warm_max_rss_mb_is_restarted(
    tmp_path: Path, calls: Path, write_pipeline
) -> None:
    loaded = write_pipeline(BIG, "big_p")
    local = local_settings(warm=True, warm_max_rss_mb=64)
    async with Stack(Settings(home=tmp_path / "home", local=local)) as stack:
        warm = executor(stack).warm
        assert warm is not None
        parents = []
        for _ in range(3):
            state = await (await start(stack, loaded, calls)).wait(timeout=120)
            assert state.status is RunStatus.SUCCEEDED
            parents.append(notes(calls, "big")[-1]["ppid"])
            # Its module is preloaded after the attempt, then the zygote is too big.
            await until(lambda: not warm.pids(), "the bloated zygote to be stopped", timeout=30)
        assert os.getpid() not in parents
        assert len(set(parents)) == 3, "each run found the previous zygote restarted"


async def test_a_module_that_cannot_be_imported_in_a_zygote_is_imported_after_the_fork(
    tmp_path: Path, calls: Path, write_pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runner.executors.warm")
    loaded = write_pipeline(NEEDS_TASK_ENV, "env_at_import_p")
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        warm = executor(stack).warm
        assert warm is not None
        for _ in range(3):
            state = await (await start(stack, loaded, calls)).wait(timeout=120)
            assert state.status is RunStatus.SUCCEEDED
        parents = {n["ppid"] for n in notes(calls, "env_at_import")}
        assert len(parents) == 1, "one zygote served every attempt: a failed preload is harmless"
        assert os.getpid() not in parents
        (zygote,) = warm.describe()
        assert zygote["preloaded"] == []
        assert warm.cold_starts == {}
        tried = [r for r in caplog.records if "its import failed there" in r.getMessage()]
        assert len(tried) == 1, "a module whose preload failed is not tried again"
        assert "RuntimeError: FOO is not set" in tried[0].getMessage()


async def test_a_fork_waits_for_a_slow_preload_instead_of_killing_the_zygote(
    tmp_path: Path, calls: Path, write_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.executors import warm_worker

    monkeypatch.setattr(warm_worker, "FORK_TIMEOUT_SECONDS", 1.0)
    loaded = write_pipeline(SLOW_IMPORT, "slow_import_p")
    home = tmp_path / "home"
    async with Stack(Settings(home=home)) as stack:
        first = await (await start(stack, loaded, calls)).wait(timeout=120)
        assert first.status is RunStatus.SUCCEEDED

        def preloading() -> bool:
            return any("importing slowly" in p.read_text() for p in (home / "warm").glob("*.log"))

        await until(preloading, "the zygote to start preloading the module", timeout=30)
        second = await (await start(stack, loaded, calls)).wait(timeout=120)
        assert second.status is RunStatus.SUCCEEDED
        parents = [n["ppid"] for n in notes(calls, "slow_import")]
        assert parents[0] == parents[1] != os.getpid(), "the same zygote served both"
        warm = executor(stack).warm
        assert warm is not None
        assert [(z["pid"], z["forks"]) for z in warm.describe()] == [(parents[0], 2)]


BODY_IMPORT = """
import sys

from runner import component, pipeline


@component
def body_import(log_dir: str = "") -> bool:
    was_imported = "colorsys" in sys.modules
    import colorsys  # noqa: F401  # imported in the body, as KFP-style components do

    return was_imported


@pipeline(name="body-import")
def body_import_p(log_dir: str = ""):
    body_import(log_dir=log_dir).set_caching(False)
"""


async def test_what_a_component_imports_in_its_body_is_preloaded_for_the_next_attempts(
    stack: Stack, mode: str, calls: Path, write_pipeline
) -> None:
    """``import sklearn`` inside a component is paid by its first attempt only: its warm
    worker imports what that attempt imported, and the next fork finds it there."""
    loaded = write_pipeline(BODY_IMPORT, "body_import_p")
    first = await (await start(stack, loaded, calls)).wait(timeout=120)
    assert first.status is RunStatus.SUCCEEDED
    assert first.steps["body-import"].parameters["output"] is False
    warm = executor(stack).warm
    if mode == "warm":
        assert warm is not None

        def preloaded() -> bool:
            return any("colorsys" in z["preloaded"] for z in warm.describe())

        await until(preloaded, "colorsys preloaded into the warm worker", 60)
    second = await (await start(stack, loaded, calls)).wait(timeout=120)
    assert second.status is RunStatus.SUCCEEDED
    # Warm: the fork found it imported; cold: every attempt is a fresh interpreter.
    assert second.steps["body-import"].parameters["output"] is (mode == "warm")
