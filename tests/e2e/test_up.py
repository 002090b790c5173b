"""``runner up`` as a shared local stack: detached runs, cancel, clean shutdown; Ctrl-C."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Background, Workspace
from tests.e2e.pipelines import SLOW, SMALL
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (its parent, runner up, has not reaped it yet).
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _step_status(ws: Workspace, run_id: str, step: str) -> str:
    result = ws.run("status", run_id, "--json", "--home", "stack")
    assert result.returncode == 0, result
    return str(json.loads(result.stdout)["steps"][step]["status"])


def test_cancel_a_detached_run_on_runner_up_then_stop_it_cleanly(
    ws: Workspace, background: Callable[..., Background]
) -> None:
    ws.write("slow.py", SLOW)
    ws.write("small.py", SMALL)
    up = background("up", "--home", "stack")
    up.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
    url = re.search(r"NATS:\s+(nats://\S+)", up.output)
    assert url is not None, up.output
    server_pid = json.loads((ws.root / "stack" / "nats" / "nats-server.json").read_text())["pid"]
    assert f"nats-server pid {server_pid}" in up.output

    # A second `runner up` on the same home is refused, with the fix.
    again = ws.run("up", "--home", "stack")
    assert again.returncode == 2, again
    assert "already runs" in again.stderr, again

    # A foreground run goes to the stack, not to a private controller.
    small = ws.run("run", "small.py", "--home", "stack", "--plain")
    assert small.returncode == 0, small
    assert "on the `runner up` stack" in small.stdout.splitlines()[0]

    detached = ws.run("run", "slow.py", "--detach", "--home", "stack")
    assert detached.returncode == 0, detached
    run_id = detached.stdout.strip()
    assert re.fullmatch(r"slow-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}", run_id), detached
    # The local executor's live log of the attempt: cheaper to watch than `runner status`.
    log = ws.root / "stack" / "executions" / run_id / "nap" / "1" / "log.txt"
    wait_until(lambda: log.is_file() and "napping" in log.read_text(), "nap to start", 60)
    assert _step_status(ws, run_id, "nap") == "running"

    follow = background("events", "--follow", "--run", run_id, "--home", "stack")
    follow.wait_for_line(lambda line: '"runner.step.started"' in line)

    cancel = ws.run("cancel", run_id, "--home", "stack")
    assert cancel.returncode == 0, cancel
    assert cancel.stdout.strip() == f"run {run_id} cancelled"
    status = json.loads(ws.run("status", run_id, "--json", "--home", "stack").stdout)
    assert status["status"] == "cancelled"
    assert status["steps"]["nap"]["status"] == "cancelled"
    again_cancel = ws.run("cancel", run_id, "--home", "stack")
    assert "already cancelled" in again_cancel.stdout
    follow.wait_for_line(lambda line: '"runner.run.cancelled"' in line)
    assert follow.interrupt() == 0, "Ctrl-C is how a --follow ends"
    kinds = [json.loads(line)["type"] for line in follow.lines]
    assert kinds[0] == "runner.run.requested"
    assert "runner.run.cancel_requested" in kinds

    assert up.interrupt() == 0, up.output
    assert up.lines[-1] == "runner up: stopped", up.output
    assert not _alive(server_pid), "runner up must stop the nats-server it started"
    assert not (ws.root / "stack" / "up.json").exists()


def test_detach_without_a_shared_stack_is_refused(ws: Workspace) -> None:
    ws.write("slow.py", SLOW)
    result = ws.run("run", "slow.py", "--detach")
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: --detach needs a controller")
    assert "runner up" in result.stderr
    assert not (ws.root / ".runner").exists(), "nothing is started for a refused run"


def test_ctrl_c_cancels_the_run_and_exits_130(
    ws: Workspace, background: Callable[..., Background]
) -> None:
    ws.write("slow.py", SLOW)
    run = background("run", "slow.py", "--plain")
    run.wait_for_line(lambda line: bool(re.match(r"\S+ nap\s+running", line)), timeout=60)
    assert run.interrupt() == 130, run.output
    assert "interrupted: cancelling run" in run.output
    assert re.search(r"^run slow-\S+ cancelled in ", run.output, re.M), run.output
    status = ws.run("runs", "list", "--json")
    assert [r["status"] for r in json.loads(status.stdout)] == ["cancelled"]
