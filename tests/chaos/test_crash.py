"""Crashes and stops of the local stack mid-run: every run must still succeed,
no step may execute more than twice, and only a step in flight at the fault twice.

- SIGKILL of everything under the home (a machine crash): ``runner up``, its
  nats-server and the running step, at random moments after submitting;
- SIGKILL of ``runner up`` and the running step, NATS left up;
- Ctrl-C (SIGINT) and SIGTERM of ``runner up`` while a step runs.

After each fault ``runner up`` is started again; nothing else intervenes.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable

import pytest

from tests.chaos.harness import Stack, sleep_until, wait_for_step
from tests.chaos.pipeline import STEPS
from tests.chaos.procs import wait_gone
from tests.chaos.tally import Tally, knob

pytestmark = pytest.mark.chaos

KILLS = knob("CHAOS_KILLS", 10)
MOMENTS = knob("CHAOS_MOMENTS", 3)


def _mid_step(rng: random.Random, n: int) -> list[tuple[str, float]]:
    """``n`` moments inside a step: which step, and how long after it started (before its
    1.5 s are up, with a margin for a busy machine: the step process must still be there)."""
    return [(rng.choice(STEPS), round(rng.uniform(0.1, 1.0), 2)) for _ in range(n)]


@pytest.mark.timeout(120 + KILLS * 40)
def test_sigkill_of_everything_at_random_moments(
    stack: Stack, rng: random.Random, tally: Callable[[str, int], Tally]
) -> None:
    t = tally("SIGKILL of everything (controller, nats-server, step)", KILLS)
    delays = [round(rng.uniform(0.2, 6.0), 2) for _ in range(KILLS)]
    print(f"[chaos] kills at {delays} s after each submit", flush=True)
    for i, delay in enumerate(delays):
        if t.stopped:
            break
        with t.moment(f"run {i + 1}: SIGKILL everything {delay}s after submitting") as twice:
            stack.ensure_up()
            run, submitted = stack.submit(tag=f"kill-{i}")
            sleep_until(submitted + delay)
            at = time.time()
            killed = stack.kill_everything()
            print(f"[chaos]   killed {', '.join(map(str, killed))}", flush=True)
            assert any(p.kind == "nats-server" for p in killed), "the nats-server was not found"
            stack.start_up()
            stack.wait_for_run(run)
            problems, found = stack.ledger.audit(run, [at])
            twice += found
            assert not problems, f"{run}: {problems}; ledger {stack.ledger.executions(run)}"
    t.verdict()


@pytest.mark.timeout(120 + MOMENTS * 60)
def test_sigkill_of_controller_and_step_with_nats_left_up(
    stack: Stack, rng: random.Random, tally: Callable[[str, int], Tally]
) -> None:
    """NATS is a server of its own here (as on a cluster): the embedded one is tied to
    its ``runner up`` and goes down with it, which the test above covers."""
    t = tally("SIGKILL of controller + step (NATS up)", MOMENTS)
    stack.settings_args = ("--nats", stack.start_external_nats())
    for i, (step, offset) in enumerate(_mid_step(rng, MOMENTS)):
        if t.stopped:
            break
        with t.moment(f"run {i + 1}: SIGKILL {offset}s into {step}") as twice:
            stack.ensure_up()
            run, _ = stack.submit(tag=f"ctl-{i}")
            started = wait_for_step(stack, run, step)
            sleep_until(started.time + offset)
            at = time.time()
            killed = stack.kill_everything()  # of the home: NATS is not in it
            print(f"[chaos]   killed {', '.join(map(str, killed))}", flush=True)
            assert any(p.kind == "step" for p in killed), f"no step process of {step} was found"
            assert stack.external_alive(), "the external nats-server went down"
            stack.start_up()
            stack.wait_for_run(run)
            problems, found = stack.ledger.audit(run, [at])
            twice += found
            assert not problems, f"{run}: {problems}; ledger {stack.ledger.executions(run)}"
    t.verdict()


@pytest.mark.timeout(120 + MOMENTS * 75)
@pytest.mark.parametrize(
    ("sig", "name"), [(signal.SIGINT, "Ctrl-C (SIGINT)"), (signal.SIGTERM, "SIGTERM")]
)
def test_stop_of_runner_up_mid_step_then_restart(
    stack: Stack,
    rng: random.Random,
    tally: Callable[[str, int], Tally],
    sig: signal.Signals,
    name: str,
) -> None:
    t = tally(f"{name} of runner up mid-step, restart", MOMENTS)
    for i, (step, offset) in enumerate(_mid_step(rng, MOMENTS)):
        if t.stopped:
            break
        with t.moment(f"run {i + 1}: {sig.name} {offset}s into {step}") as twice:
            stack.ensure_up()
            run, _ = stack.submit(tag=f"{sig.name.lower()}-{i}")
            started = wait_for_step(stack, run, step)
            sleep_until(started.time + offset)
            at = time.time()
            before = stack.processes()
            code = stack.stop_up(sig)
            assert code == 0, f"runner up exited {code} on {sig.name}:\n{stack.tail()}"
            wait_gone(before, 20, f"processes of the first runner up after {sig.name}")
            stack.start_up()
            stack.wait_for_run(run)
            problems, found = stack.ledger.audit(run, [at])
            twice += found
            assert not problems, f"{run}: {problems}; ledger {stack.ledger.executions(run)}"
    t.verdict()
