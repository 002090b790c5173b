"""The embedded nats-server under faults: killed alone mid-run, or left behind by a
SIGKILLed ``runner up`` / ``runner run`` — nothing blocks the next command."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.bus.server_record import read_record
from runner.process_identity import ProcessIdentity
from tests.e2e.conftest import CLI, Background, Workspace
from tests.e2e.pipelines import SLOW, SMALL
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

CHAIN = """
import time

from runner import component, pipeline


@component
def first(seconds: float) -> float:
    print("first napping", flush=True)
    time.sleep(seconds)
    return seconds


@component
def second(seconds: float) -> float:
    print("second napping", flush=True)
    time.sleep(seconds)
    return seconds


@component
def third(seconds: float) -> float:
    print("third napping", flush=True)
    time.sleep(seconds)
    return seconds


@pipeline(name="chain")
def chain(seconds: float = 1.5):
    a = first(seconds=seconds)
    b = second(seconds=a.output)
    third(seconds=b.output)
"""

ORPHAN_MAKER = """
import asyncio, sys
from pathlib import Path
from runner.bus import EmbeddedNats

async def main() -> None:
    server = EmbeddedNats(Path(sys.argv[1]), die_with_owner=False)
    await server.start()
    print(server.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _server(home: Path) -> ProcessIdentity:
    record = read_record(home / "nats")
    assert record is not None, f"no nats-server record under {home}"
    return record.server


def _gone(identity: ProcessIdentity) -> Callable[[], bool]:
    return lambda: not identity.alive()


def _status(ws: Workspace, run_id: str, home: str) -> dict[str, object] | None:
    """The run's status document; None while the stack cannot answer (NATS restarting)."""
    result = ws.run("status", run_id, "--json", "--home", home, timeout=60)
    if result.returncode != 0:
        return None
    return dict(json.loads(result.stdout))


def _kill_leftover_steps(home: Path) -> None:
    """Step processes run in their own sessions; a killed command leaves them behind."""
    for pid_file in home.glob("executions/*/*/*/pid"):
        text = pid_file.read_text().strip()
        raw = json.loads(text) if text.startswith("{") else {"pid": int(text)}
        identity = ProcessIdentity.from_json(raw)
        if identity is not None and identity.started is not None and identity.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(identity.pid, signal.SIGKILL)


@pytest.fixture
def own_session(ws: Workspace) -> Iterator[Callable[..., Background]]:
    """Start ``runner ARGS`` as its own process group, so the test can SIGKILL the group."""
    started: list[Background] = []

    def start(*args: str) -> Background:
        proc = subprocess.Popen(
            [*CLI, *args],
            cwd=ws.root,
            env=ws.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started.append(Background(proc))
        return started[-1]

    yield start
    for process in started:
        process.stop()
    for home in ws.root.iterdir():
        if (home / "executions").is_dir():
            _kill_leftover_steps(home)


def test_nats_server_killed_mid_run_is_restarted_and_the_run_completes(
    ws: Workspace, background: Callable[..., Background]
) -> None:
    ws.write("chain.py", CHAIN)
    ws.write("small.py", SMALL)
    up = background("up", "--home", "stack")
    up.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
    home = ws.root / "stack"
    before = _server(home)
    assert f"nats-server pid {before.pid}, restarted if it dies" in up.output

    detached = ws.run("run", "chain.py", "--detach", "--home", "stack")
    assert detached.returncode == 0, detached
    run_id = detached.stdout.strip()
    log = home / "executions" / run_id / "second" / "1" / "log.txt"
    wait_until(lambda: log.is_file() and "napping" in log.read_text(), "second to run", 60)

    os.kill(before.pid, signal.SIGKILL)  # the server alone, mid-step
    up.wait_for_line(lambda line: "restarting it on port" in line, timeout=30)
    wait_until(lambda: _server(home).pid != before.pid, "the restarted server's record", 30)
    after = _server(home)
    assert after.alive()

    def ended() -> dict[str, object] | None:
        status = _status(ws, run_id, "stack")
        done = status is not None and status["status"] in ("succeeded", "failed", "cancelled")
        return status if done else None

    status = wait_until(
        ended, f"run {run_id} to end", 120, interval=0.5, detail=lambda: f"runner up:\n{up.output}"
    )
    assert status is not None, f"no status of {run_id}; runner up said:\n{up.output}"
    assert status["status"] == "succeeded", (status, up.output)
    steps = status["steps"]
    assert isinstance(steps, dict)
    assert {name: steps[name]["status"] for name in steps} == dict.fromkeys(
        ("first", "second", "third"), "succeeded"
    )

    # Still serving, on the same URL: a new run goes through the restarted server.
    small = ws.run("run", "small.py", "--home", "stack", "--plain")
    assert small.returncode == 0, small
    assert "on the `runner up` stack" in small.stdout.splitlines()[0]
    assert up.proc.poll() is None, up.output
    assert up.interrupt() == 0, up.output
    assert _gone(after)(), "the restarted server is stopped with runner up"


def test_sigkill_of_runner_ups_process_group_leaves_nothing_that_blocks(
    ws: Workspace, own_session: Callable[..., Background]
) -> None:
    up = own_session("up", "--home", "stack")
    up.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
    home = ws.root / "stack"
    server = _server(home)
    os.killpg(up.proc.pid, signal.SIGKILL)
    up.proc.wait(timeout=10)
    # PR_SET_PDEATHSIG: the server follows its owner instead of lingering.
    wait_until(_gone(server), f"nats-server {server.pid} to stop with its runner up", 15)

    again = own_session("up", "--home", "stack")
    again.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
    assert "already runs" not in again.output
    assert "external nats-server" not in again.output
    fresh = _server(home)
    assert fresh.pid != server.pid
    assert again.interrupt() == 0, again.output
    assert _gone(fresh)()


def test_next_runner_up_stops_and_reports_an_orphaned_server(
    ws: Workspace, background: Callable[..., Background]
) -> None:
    """Where PDEATHSIG did not apply (another OS, a server started off the main
    thread), the orphan outlives its owner: the next `runner up` replaces it."""
    home = ws.root / "stack"
    (home / "nats").mkdir(parents=True)
    maker = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER, str(home / "nats")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert maker.stdout is not None
        orphan = int(maker.stdout.readline())
        maker.kill()
        maker.wait(timeout=10)
        orphan_id = _server(home)
        assert orphan_id.pid == orphan
        assert orphan_id.alive(), "the orphan outlived its owner"

        up = background("up", "--home", "stack")
        up.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
        assert f"stopped an orphaned nats-server (pid {orphan}) left by a killed" in up.output
        assert "external nats-server" not in up.output
        assert _gone(orphan_id)()
        mine = _server(home)
        assert f"nats-server pid {mine.pid}," in up.output
        assert up.interrupt() == 0, up.output
        assert _gone(mine)()
    finally:
        if maker.stdout is not None:
            maker.stdout.close()


def test_a_sigkilled_private_run_does_not_block_the_next_run(
    ws: Workspace, own_session: Callable[..., Background]
) -> None:
    ws.write("slow.py", SLOW)
    ws.write("small.py", SMALL)
    run = own_session("run", "slow.py", "-p", "seconds=30", "--plain")
    run.wait_for_line(lambda line: " nap " in f" {line} " and "running" in line, timeout=60)
    home = ws.root / ".runner"
    server = _server(home)
    run.proc.send_signal(signal.SIGKILL)  # the command alone, as `kill -9 PID` does
    run.proc.wait(timeout=10)
    _kill_leftover_steps(home)

    started = time.monotonic()
    nxt = ws.run("run", "small.py", "--plain")
    took = time.monotonic() - started
    assert nxt.returncode == 0, nxt
    assert "belongs to another runner command" not in nxt.stderr
    assert "private nats-server and in-process controller" in nxt.stdout.splitlines()[0]
    assert took < 45, f"the next run waited {took:.0f}s"
    assert _gone(server)(), "the killed run's server is gone"


def test_runner_up_exits_non_zero_when_its_server_keeps_dying(
    ws: Workspace, background: Callable[..., Background]
) -> None:
    up = background("up", "--home", "stack")
    up.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
    home = ws.root / "stack"
    killed: set[int] = set()
    deadline = time.monotonic() + 120
    while up.proc.poll() is None and time.monotonic() < deadline:
        record = read_record(home / "nats")
        if record is not None and record.server.pid not in killed and record.server.alive():
            os.kill(record.server.pid, signal.SIGKILL)
            killed.add(record.server.pid)
        time.sleep(0.05)
    assert up.proc.poll() is not None, f"runner up still runs after 120s:\n{up.output}"
    assert up.interrupt() == 2, up.output  # the process has ended: this collects its output
    assert len(killed) == 6, f"gave up after {len(killed)} kills:\n{up.output}"
    assert "stopped 6 times within 20s" in up.output
    assert "error: the service stops: its embedded nats-server could not be kept" in up.output
    assert not any(ProcessIdentity(pid, None, None).alive() for pid in killed)


def test_a_private_run_replaces_an_orphaned_server_at_once(ws: Workspace) -> None:
    """The issue's report: an orphan made every later `runner run` fail with
    "belongs to another runner command" until it was killed by hand."""
    ws.write("small.py", SMALL)
    home = ws.root / ".runner"
    (home / "nats").mkdir(parents=True)
    maker = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER, str(home / "nats")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert maker.stdout is not None
        int(maker.stdout.readline())
        maker.kill()
        maker.wait(timeout=10)
        orphan = _server(home)
        assert orphan.alive()
        result = ws.run("run", "small.py", "--plain")
        assert result.returncode == 0, result
        assert "belongs to another runner command" not in result.stderr
        assert _gone(orphan)(), "the orphan was stopped, not left running"
    finally:
        if maker.stdout is not None:
            maker.stdout.close()
