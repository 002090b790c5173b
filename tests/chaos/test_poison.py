"""Garbage and forgeries on the bus, published with a plain NATS client during a run.

The controller must survive every message (same ``runner up`` PID), park each
one in the dead-letter stream, and finish the real run with its real result.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence

import pytest

from tests.chaos import poison, rawbus
from tests.chaos.harness import Stack, wait_for_step
from tests.chaos.pipeline import RESULT, STEPS
from tests.chaos.tally import Tally, knob
from tests.waiting import wait_until

pytestmark = pytest.mark.chaos

FLOOD = knob("CHAOS_FLOOD", 10_000)
DEAD_LETTER_DEADLINE = 90.0


def _wait_dead_lettered(
    stack: Stack, url: str, sent: Sequence[rawbus.Message], after: str = "the flood"
) -> None:
    """Every sent message is in the dead-letter stream, and ``runner up`` still runs."""
    try:
        wait_until(
            lambda: _dead_letter_count(stack, url) >= len(sent),
            f"all {len(sent)} messages to be dead-lettered",
            DEAD_LETTER_DEADLINE,
            interval=0.2,
            detail=lambda: f"{_dead_letter_count(stack, url)} are; runner up said:\n{stack.tail()}",
        )
    except AssertionError as exc:
        raise AssertionError(f"after {after}: {exc}") from None
    lost = rawbus.missing(sent, rawbus.dead_letters(url))
    labels = sorted({m.label for m in lost})
    assert not lost, f"{len(lost)} message(s) not in the dead-letter stream: {labels[:10]}"


def _dead_letter_count(stack: Stack, url: str) -> int:
    """The dead-letter stream's size; if NATS cannot be asked, whether ``runner up``
    died (it stops its nats-server on the way out) says why."""
    stack.check_up_alive()
    try:
        return rawbus.count(url)
    except Exception:
        _wait_for_exit(stack, grace=15)
        raise


def _wait_for_exit(stack: Stack, grace: float) -> None:
    """Raise :class:`StackDied` if ``runner up`` exits within ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        stack.check_up_alive()
        time.sleep(0.2)


def _publish(stack: Stack, url: str, messages: Sequence[rawbus.Message]) -> list[rawbus.Message]:
    """Publish; if that fails, say first whether ``runner up`` (and its server) died."""
    try:
        return rawbus.publish(url, messages)
    except Exception:
        _wait_for_exit(stack, grace=15)
        raise


def _nats_url(stack: Stack) -> str:
    return str(json.loads((stack.home / "up.json").read_text())["nats_url"])


@pytest.mark.timeout(300)
def test_poison_messages_and_a_flood_are_dead_lettered_while_a_run_succeeds(
    stack: Stack, rng: random.Random, tally: Callable[[str, int], Tally]
) -> None:
    t = tally(f"poison messages + {FLOOD} malformed during a run", 1)
    with t.moment(f"the named poison messages, then {FLOOD} generated ones, during a run"):
        up = stack.start_up()
        url = _nats_url(stack)
        run, _ = stack.submit(tag="poison")
        wait_for_step(stack, run, STEPS[0])
        sent = []
        for message in poison.named(run):  # one at a time: which one kills it
            sent += _publish(stack, url, [message])
            _wait_dead_lettered(stack, url, sent, after=message.label)
        flood = poison.flood(rng, run, FLOOD)
        stored = _publish(stack, url, flood)
        print(f"[chaos]   {len(stored)} of {len(flood)} generated messages stored", flush=True)
        assert len(stored) == len(flood), "JetStream dropped some as duplicates"
        sent += stored
        record = stack.wait_for_run(run, timeout=90)
        assert record["steps"][STEPS[-1]]["output_values"] == {"output": RESULT}
        _wait_dead_lettered(stack, url, sent)
        assert stack.up is up, "runner up was restarted"
        assert up.poll() is None, "runner up is gone"
        assert json.loads((stack.home / "up.json").read_text())["pid"] == up.pid
    t.verdict()


@pytest.mark.timeout(150)
def test_a_forged_step_report_is_rejected_and_the_real_one_wins(
    stack: Stack, tally: Callable[[str, int], Tally]
) -> None:
    t = tally("forged step.succeeded during the step", 1)
    last = STEPS[-1]
    with t.moment(f"step.succeeded of {last} with output 999, published while {last} runs"):
        up = stack.start_up()
        url = _nats_url(stack)
        run, _ = stack.submit(tag="forgery")
        entry = wait_for_step(stack, run, last)
        forged = poison.event(run, step=last, attempt=int(entry.attempt), output=999)
        message = rawbus.Message(
            poison.subject(run),
            poison.dumps(forged),
            {**poison.CE_JSON, "Nats-Msg-Id": forged["id"]},
            "forged report",
        )
        assert _publish(stack, url, [message]) == [message]
        assert not stack.ledger.ended(run, last), "the forgery came too late to matter"
        record = stack.wait_for_run(run)
        values = record["steps"][last]["output_values"]
        assert values == {"output": RESULT}, f"the forgery won: {last} output {values}"
        _wait_dead_lettered(stack, url, [message], after="the forgery")
        assert up.poll() is None
    t.verdict()
