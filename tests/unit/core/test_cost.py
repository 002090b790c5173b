"""decide's cost per event is O(out-degree), never O(steps).

Counted, not timed: the run state's step map and the plan's task map are
swapped for maps that count every lookup and refuse to be iterated. The same
event on a 1,000-step and a 10,000-step run must touch the same few entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runner.core import Decision, Plan, StepState, complete_actions
from runner.core.plan import LoopPlan, TaskPlan
from runner.core.state import LoopState
from tests.unit.core.factories import Driver, chain, dag


class _Counted(dict[str, Any]):
    """A dict that counts lookups and fails any full scan."""

    lookups = 0

    def __getitem__(self, key: str) -> Any:
        type(self).lookups += 1
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        type(self).lookups += 1
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        type(self).lookups += 1
        return super().__contains__(key)

    def _scan(self, *args: Any) -> Any:
        raise AssertionError("decide scanned every entry")

    __iter__: Callable[..., Iterator[str]] = _scan
    keys = values = items = copy = __len__ = __reversed__ = _scan


class _Steps(_Counted):
    lookups = 0


class _Tasks(_Counted):
    lookups = 0


class _Loops(_Counted):
    lookups = 0


class CountingDriver(Driver):
    """A shell that completes every action at once and can count one event's lookups."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan, roundtrip=False)

    def deliver(self, event: Any) -> Decision:
        decision = super().deliver(event)
        complete_actions(self.run, [a.id for a in decision.actions])
        return decision

    def measure(self, send: Callable[[], Any]) -> int:
        """Lookups of steps, loops and tasks made by ``send`` (one event, or several)."""
        real_plan, real_steps, real_loops = self.plan, self.run.steps, self.run.loops
        tasks: dict[str, TaskPlan] = _Tasks(real_plan.tasks)
        plan_loops: dict[str, LoopPlan] = _Loops(real_plan.loops)
        steps: dict[str, StepState] = _Steps(real_steps)
        loops: dict[str, LoopState] = _Loops(real_loops)
        self.plan = dataclasses.replace(real_plan, tasks=tasks, loops=plan_loops)
        self.run.steps, self.run.loops = steps, loops
        _Tasks.lookups = _Steps.lookups = _Loops.lookups = 0
        try:
            send()
        finally:
            self.plan = real_plan
            self.run.steps = dict(dict.items(steps))
            self.run.loops = dict(dict.items(loops))
        return _Tasks.lookups + _Steps.lookups + _Loops.lookups


def _progress(d: CountingDriver, upto: int) -> None:
    d.request()
    for i in range(upto):
        d.succeeded(f"s{i}")


def _chain_costs(n: int) -> dict[str, int]:
    d = CountingDriver(chain(n))
    _progress(d, n // 2)
    cur = f"s{n // 2}"
    return {
        "launched": d.measure(lambda: d.launched(cur)),
        "launched-again": d.measure(lambda: d.launched(cur)),
        "started": d.measure(lambda: d.started(cur)),
        "succeeded": d.measure(lambda: d.succeeded(cur)),
        "succeeded-again": d.measure(lambda: d.succeeded(cur)),
        "old-attempt": d.measure(lambda: d.failed(cur, attempt=9)),
    }


def test_each_step_event_touches_a_constant_number_of_entries() -> None:
    small, large = _chain_costs(1_000), _chain_costs(10_000)
    assert small == large
    # One step, its one child, the child's inputs: a handful, whatever the run's size.
    assert max(large.values()) <= 12, large
    assert large["succeeded"] > large["launched"]  # the child was looked at and launched


def _tail_costs(n: int) -> dict[str, int]:
    d = CountingDriver(dag({f"s{i}": [f"s{i - 1}"] if i else [] for i in range(n)}, max_attempts=2))
    _progress(d, n - 3)
    tail = f"s{n - 3}"
    retry = d.measure(lambda: d.failed(tail, 1))
    # The retry's launch was performed (unconfirmed): stop it, skip the 2 steps below.
    cancel = d.measure(lambda: d.cancel())
    assert d.run.status.value == "cancelling"
    assert d.run.unfinished == 1
    return {"retry": retry, "cancel": cancel}


def test_retry_and_cancel_do_not_scale_with_the_run() -> None:
    small, large = _tail_costs(1_000), _tail_costs(10_000)
    assert small == large
    # Cancel: the tail step, the two skipped below it and their (empty) consequences.
    assert max(large.values()) <= 16, large


def test_fan_out_cost_follows_out_degree_not_run_size() -> None:
    def cost(children: int, others: int) -> int:
        edges: dict[str, list[str]] = {"root": []}
        edges.update({f"c{i}": ["root"] for i in range(children)})
        edges.update({f"o{i}": [f"o{i - 1}"] if i else [] for i in range(others)})
        d = CountingDriver(dag(edges))
        d.request()
        return d.measure(lambda: d.succeeded("root"))

    assert cost(10, 100) == cost(10, 5_000)
    per_child = (cost(110, 100) - cost(10, 100)) / 100
    assert 1 <= per_child <= 4


def test_skipping_costs_what_it_skips() -> None:
    def cost(below: int, others: int) -> int:
        edges: dict[str, list[str]] = {"root": []}
        edges.update({f"b{i}": [f"b{i - 1}" if i else "root"] for i in range(below)})
        edges.update({f"o{i}": [] for i in range(others)})
        d = CountingDriver(dag(edges))
        d.request()
        return d.measure(lambda: d.failed("root"))

    assert cost(10, 10) == cost(10, 3_000)
    assert cost(200, 10) - cost(100, 10) == 100 * (cost(11, 10) - cost(10, 10))


def test_run_completion_is_o1() -> None:
    small, large = CountingDriver(chain(10)), CountingDriver(chain(3_000))
    _progress(small, 9)
    _progress(large, 2_999)
    assert small.measure(lambda: small.succeeded("s9")) == large.measure(
        lambda: large.succeeded("s2999")
    )
    assert small.run.status.value == large.run.status.value == "succeeded"


def test_the_counting_maps_do_catch_a_scan() -> None:
    steps = _Steps({"a": StepState()})
    with pytest.raises(AssertionError, match="scanned"):
        list(steps.values())
    with pytest.raises(AssertionError, match="scanned"):
        [name for name in steps]
