"""The embedded nats-server SIGKILLed alone mid-run: ``runner up`` brings it back
and the run completes, with nobody touching anything (same ``runner up`` PID)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.chaos.harness import Stack, sleep_until, wait_for_step
from tests.chaos.pipeline import STEPS
from tests.chaos.procs import signal_procs, wait_gone
from tests.chaos.tally import Tally, knob

pytestmark = pytest.mark.chaos

MOMENTS = knob("CHAOS_MOMENTS", 3)


@pytest.mark.timeout(120 + MOMENTS * 75)
def test_sigkill_of_the_nats_server_alone_mid_run(
    stack: Stack, rng: random.Random, tally: Callable[[str, int], Tally]
) -> None:
    t = tally("SIGKILL of nats-server alone", MOMENTS)
    moments = [(rng.choice(STEPS), round(rng.uniform(0.0, 1.6), 2)) for _ in range(MOMENTS)]
    for i, (step, offset) in enumerate(moments):
        if t.stopped:
            break
        with t.moment(f"run {i + 1}: SIGKILL nats-server {offset}s after {step} started") as twice:
            stack.ensure_up()
            up = stack.up
            run, _ = stack.submit(tag=f"nats-{i}")
            started = wait_for_step(stack, run, step)
            sleep_until(started.time + offset)
            servers = stack.nats_servers()
            assert len(servers) == 1, f"nats-servers of the home: {servers}"
            at = time.time()
            signal_procs(servers)
            wait_gone(servers, 10, "the SIGKILLed nats-server")
            stack.wait_for_run(run)
            assert stack.up is up, "runner up was restarted"
            problems, found = stack.ledger.audit(run, [at])
            twice += found
            assert not problems, f"{run}: {problems}; ledger {stack.ledger.executions(run)}"
    t.verdict()
