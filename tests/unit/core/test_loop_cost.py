"""A 1,000-item ParallelFor with parallelism 8: never more than 8 running, linear cost.

Counted, not timed, with the counting maps of ``test_cost``: every lookup of
a step, loop or task made by ``decide`` is counted, and any full scan of
those maps fails the test. Each iteration event must cost the same whatever
the loop's size, and a whole run must cost in proportion to its iterations.
"""

from __future__ import annotations

from collections import deque

from runner.core import LaunchStep, Plan, RunStatus
from runner.spec import CollectedInput, LoopItemInput
from tests.unit.core.factories import component, loop, out, spec, task
from tests.unit.core.test_cost import CountingDriver


def loop_plan(items: int, parallelism: int = 8) -> Plan:
    """prep → for-1 over range(items): work(x=item) → gather(Collected(work))."""
    return Plan.from_spec(
        spec(
            task("prep"),
            task(
                "work",
                "prep",
                component="work",
                inputs={"x": LoopItemInput(loop="for-1"), "p": out("prep")},
                loop="for-1",
            ),
            task(
                "gather",
                "work",
                component="gather",
                inputs={"xs": CollectedInput(task="work", output="out")},
            ),
            components=[component("work", params=["x", "p"]), component("gather", params=["xs"])],
            loops=[loop("for-1", list(range(items)), parallelism=parallelism)],
        )
    )


class Sweep:
    """Runs every launched step to success, oldest first, counting lookups and concurrency."""

    def __init__(self, items: int, parallelism: int = 8) -> None:
        self.d = CountingDriver(loop_plan(items, parallelism))
        self.queue: deque[str] = deque()
        self.cost = 0
        self.events = 0
        self.most_running = 0
        self.most_open = 0

    def send(self, event: str, step: str | None = None) -> int:
        before = len(self.d.history)
        if step is None:
            self.d.request()  # O(pipeline scope), and there is no state to count on yet
            cost = 0
        else:
            kinds = {"launched": self.d.launched, "started": self.d.started}
            send = kinds.get(event, lambda name: self.d.succeeded(name, out=1))
            cost = self.d.measure(lambda: send(step))
        for decision in self.d.history[before:]:
            self.queue.extend(a.step for a in decision.actions if isinstance(a, LaunchStep))
        self.cost += cost
        self.events += 1
        self.most_running = max(self.most_running, len(self.d.run.active))
        self.most_open = max(self.most_open, len(self.d.run.loops["for-1"].open))
        return cost

    def run(self) -> Sweep:
        self.send("requested")
        while self.queue:
            step = self.queue.popleft()
            for event in ("launched", "started", "succeeded"):
                self.send(event, step)
        return self


def test_never_more_than_parallelism_iterations_run_and_the_run_succeeds() -> None:
    sweep = Sweep(1_000).run()
    run = sweep.d.run
    assert run.status is RunStatus.SUCCEEDED
    assert sweep.most_running == 8
    assert sweep.most_open == 8
    assert run.steps["gather"].status.done
    assert len(run.steps) == 1_002
    assert run.loops["for-1"].next == 1_000


def test_iterations_are_created_lazily() -> None:
    sweep = Sweep(1_000)
    sweep.send("requested")
    sweep.send("succeeded", "prep")
    assert sorted(sweep.d.run.steps) == ["gather", "prep"] + [f"work[{i}]" for i in range(8)]


def _middle_event_cost(items: int) -> dict[str, int]:
    sweep = Sweep(items)
    sweep.send("requested")
    for event in ("launched", "started", "succeeded"):
        sweep.send(event, "prep")
    for i in range(20):
        for event in ("launched", "started"):
            sweep.send(event, f"work[{i}]")
    # An iteration ends and the next one starts: the same cost in any loop.
    return {
        "iteration-ends": sweep.send("succeeded", "work[5]"),
        "redelivered": sweep.send("succeeded", "work[5]"),
        "launched": sweep.send("launched", "work[8]"),
    }


def test_an_iteration_event_costs_the_same_in_a_small_and_a_large_loop() -> None:
    assert _middle_event_cost(100) == _middle_event_cost(10_000)
    assert max(_middle_event_cost(100).values()) <= 24


def test_the_whole_run_costs_in_proportion_to_its_iterations() -> None:
    small, large = Sweep(1_000).run(), Sweep(2_000).run()
    # Three events per iteration, plus the request and three each for prep and gather.
    assert large.events - 7 == 2 * (small.events - 7)
    per_event = large.cost / large.events, small.cost / small.events
    assert abs(per_event[0] - per_event[1]) / per_event[1] < 0.02
    assert 1.9 < large.cost / small.cost < 2.1


def test_without_parallelism_every_iteration_starts_at_once() -> None:
    sweep = Sweep(50, parallelism=1_000)
    sweep.send("requested")
    sweep.send("succeeded", "prep")
    assert len(sweep.d.run.active) == 50
