"""``runner cancel`` after a crash: it always ends the run, and never signals a
process the runner did not start.

- A stale ``pid`` file whose PID now belongs to someone else (after a reboot
  PIDs are reused): the unrelated process survives the cancel.
- A cancel requested while the controller is down and the step is gone: the
  restarted controller completes it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.harness import Stack, sleep_until, wait_for_step
from tests.chaos.pipeline import STEPS
from tests.chaos.tally import Tally, knob

pytestmark = pytest.mark.chaos

MOMENTS = knob("CHAOS_CANCEL_MOMENTS", 1)


def _plant_pid(pid_file: Path, pid: int) -> str:
    """Make ``pid_file`` name ``pid``, keeping whatever else it records (a start time,
    a boot id): what a stale file looks like once its PID is reused."""
    text = pid_file.read_text()
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if isinstance(record, dict) and "pid" in record:
        planted = json.dumps({**record, "pid": pid})
    else:
        planted = str(pid)
    pid_file.write_text(planted)
    return planted


@pytest.mark.timeout(60 + MOMENTS * 120)
def test_cancel_with_a_reused_pid_in_a_stale_pid_file_spares_that_process(
    stack: Stack, rng: random.Random, tally: Callable[[str, int], Tally]
) -> None:
    t = tally("stale pid file with a reused pid, then cancel", MOMENTS)
    for i in range(MOMENTS):
        if t.stopped:
            break
        step, offset = rng.choice(STEPS[:3]), round(rng.uniform(0.1, 1.0), 2)
        with t.moment(f"run {i + 1}: SIGKILL {offset}s into {step}, plant a pid, cancel"):
            stack.ensure_up()
            run, _ = stack.submit(tag=f"stale-{i}")
            entry = wait_for_step(stack, run, step)
            sleep_until(entry.time + offset)
            stack.kill_controller_and_steps()
            # Its own session, like a step: a killpg of "the step" would hit it.
            sleeper = stack.spawn(["sleep", "300"], cwd=stack.root, start_new_session=True)
            pid_file = stack.home / "executions" / run / step / entry.attempt / "pid"
            planted = _plant_pid(pid_file, sleeper.pid)
            print(f"[chaos]   planted {planted} in {pid_file}", flush=True)
            stack.kill()  # whatever the kill left (its nats-server): a clean restart
            stack.start_up()
            cancel = stack.cli("cancel", run, "--timeout", "45", timeout=60)
            assert sleeper.poll() is None, f"the unrelated process was killed: {cancel}"
            stack.wait_for_run(run, want="cancelled", timeout=30)
            assert cancel.returncode == 0, cancel
            sleeper.kill()
            sleeper.wait(timeout=10)
    t.verdict()


@pytest.mark.timeout(60 + MOMENTS * 120)
def test_a_cancel_requested_while_the_controller_is_down_completes_after_restart(
    stack: Stack, rng: random.Random, tally: Callable[[str, int], Tally]
) -> None:
    """NATS is a server of its own (as on a cluster), so the cancel can be requested
    while no controller runs: the embedded one goes down with its ``runner up``."""
    t = tally("cancel while the controller is down, step gone", MOMENTS)
    stack.settings_args = ("--nats", stack.start_external_nats())
    for i in range(MOMENTS):
        if t.stopped:
            break
        step, offset = rng.choice(STEPS[:3]), round(rng.uniform(0.1, 1.0), 2)
        with t.moment(f"run {i + 1}: SIGKILL {offset}s into {step}, cancel, restart"):
            stack.ensure_up()
            run, _ = stack.submit(tag=f"down-{i}")
            entry = wait_for_step(stack, run, step)
            sleep_until(entry.time + offset)
            killed = stack.kill_everything()  # of the home: controller and step
            assert any(p.kind == "step" for p in killed), f"no step process of {step} was found"
            requested = stack.cli("cancel", run, "--no-wait", timeout=60)
            assert requested.returncode == 0, requested
            started = time.monotonic()
            stack.start_up()
            record = stack.wait_for_run(run, want="cancelled", timeout=60)
            print(f"[chaos]   cancelled {time.monotonic() - started:.1f}s after restart")
            assert record["steps"][step]["status"] == "cancelled", record["steps"][step]
            assert stack.ledger.executions(run)[STEPS[-1]] == 0, "the run went on"
    t.verdict()
