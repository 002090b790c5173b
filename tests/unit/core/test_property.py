"""Property test: random DAGs run by a simulated shell and executor.

Events are delivered in random order with random duplicates; the shell
performs outbox actions late and in random batches; steps succeed, fail, hit
the cache or omit an output at random; some runs are cancelled midway.
After every event the invariants are checked, and every run must end with
the status its history calls for. Seeds are fixed: a failure replays.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import pytest

from runner.core import (
    ACTIVE_STEP_STATUSES,
    Decision,
    LaunchStep,
    Plan,
    PublishEvent,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    StopStep,
    complete_actions,
    names,
)
from runner.core.state import LoopState
from runner.events import (
    ErrorInfo,
    Event,
    EventKind,
    RunCancelRequested,
    RunRequested,
    StepCached,
    StepFailed,
    StepLaunched,
    StepStarted,
    StepSucceeded,
)
from runner.spec import TaskOutputInput
from tests.unit.core.factories import Driver, component, spec, task

TERMINAL_RUN_EVENTS = {"run.succeeded", "run.failed", "run.cancelled"}


def random_plan(rng: random.Random) -> Plan:
    n = rng.randint(1, 18)
    tasks = []
    for i in range(n):
        parents = sorted(rng.sample(range(i), k=min(i, rng.choice([0, 1, 1, 2, 3]))))
        names = [f"t{p}" for p in parents]
        inputs = {}
        if names and rng.random() < 0.5:
            inputs = {"x": TaskOutputInput(task=rng.choice(names), output="out")}
        tasks.append(
            task(
                f"t{i}",
                *names,
                component="use" if inputs else "noop",
                inputs=inputs,
                max_attempts=rng.randint(1, 3),
                caching=rng.random() < 0.8,
            )
        )
    return Plan.from_spec(spec(*tasks, components=[component("use", params=["x"])]))


@dataclass
class Simulation:
    """The shell and the executor around ``decide``, driven by one seed."""

    rng: random.Random
    plan: Plan
    driver: Driver = field(init=False)
    pool: list[Event] = field(default_factory=list)
    running: dict[tuple[str, int], None] = field(default_factory=dict)
    launches: Counter[str] = field(default_factory=Counter)
    terminal_events: int = 0
    cancelled_while_live: bool = False

    def __post_init__(self) -> None:
        self.driver = Driver(self.plan)

    # -- the world ------------------------------------------------------------------------

    def run(self) -> RunState:
        self.deliver(self.driver.event(EventKind.RUN_REQUESTED, _requested(self.plan)))
        cancel_at = self.rng.randint(1, 60) if self.rng.random() < 0.3 else None
        for turn in range(10_000):
            if turn == cancel_at:
                self.pool.append(
                    self.driver.event(EventKind.RUN_CANCEL_REQUESTED, RunCancelRequested())
                )
            if not self.pool and not self.running and not self.driver.run.outbox:
                return self.driver.run
            self.step_world()
        raise AssertionError("the run never settled")

    def step_world(self) -> None:
        roll = self.rng.random()
        if self.driver.run.outbox and (roll < 0.3 or not (self.pool or self.running)):
            self.perform_some()
        elif self.running and (roll < 0.5 or not self.pool):
            self.finish(self.rng.choice(list(self.running)))
        else:
            event = self.pool.pop(self.rng.randrange(len(self.pool)))
            if self.rng.random() < 0.15:
                self.pool.append(event)  # delivered again later
            self.deliver(event)

    def perform_some(self) -> None:
        outbox = self.driver.run.outbox
        batch = outbox[: self.rng.randint(1, len(outbox))]
        for action in batch:
            if isinstance(action, LaunchStep):
                self.launch(action)
            elif isinstance(action, StopStep):
                if (action.step, action.attempt) in self.running:
                    self.finish((action.step, action.attempt), reason="Cancelled")
            elif isinstance(action, PublishEvent):
                self.pool.append(action.event)  # the controller consumes its own events
        complete_actions(self.driver.run, [a.id for a in batch])

    def launch(self, action: LaunchStep) -> None:
        name, attempt = action.step, action.attempt
        if action.cache_key and self.rng.random() < 0.2:
            data = StepCached(
                cache_key=action.cache_key,
                parameters={"out": 1},
                producer_run="r0",
                producer_step=name,
            )
            self.pool.append(self.driver.event(EventKind.STEP_CACHED, data, name, attempt))
            return
        self.running[(name, attempt)] = None
        launched = StepLaunched(attempt=attempt, executor="sim", launch_id=f"{name}-{attempt}")
        self.pool.append(self.driver.event(EventKind.STEP_LAUNCHED, launched, name, attempt))
        started = StepStarted(attempt=attempt)
        self.pool.append(self.driver.event(EventKind.STEP_STARTED, started, name, attempt))

    def finish(self, key: tuple[str, int], reason: str | None = None) -> None:
        del self.running[key]
        name, attempt = key
        if reason is None and self.rng.random() < 0.25:
            reason = "Exception"
        if reason:
            error = ErrorInfo(reason=reason, message="boom")
            data: StepFailed | StepSucceeded = StepFailed(attempt=attempt, error=error)
            kind = EventKind.STEP_FAILED
        else:
            outputs = {"out": 1} if self.rng.random() < 0.9 else {}
            data = StepSucceeded(attempt=attempt, parameters=outputs)
            kind = EventKind.STEP_SUCCEEDED
        self.pool.append(self.driver.event(kind, data, name, attempt))

    # -- the checks -----------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        before = self.driver.state.status if self.driver.state else None
        decision = self.driver.deliver(event)
        if event.kind is EventKind.RUN_CANCEL_REQUESTED and before is RunStatus.RUNNING:
            self.cancelled_while_live = True
        assert decision.rejected is None, decision.rejected
        self.check(decision)

    def check(self, decision: Decision) -> None:
        state = self.driver.run
        for action in decision.actions:
            assert action in state.outbox
            if isinstance(action, LaunchStep):
                self.launches[action.id] += 1
                assert self.launches[action.id] == 1, f"{action.id} decided twice"
                task = self.plan.task_of_step(action.step)
                assert action.attempt <= task.task.retry.max_attempts
                for parent, parent_state in parents_of(state, self.plan, action.step):
                    finished = parent_state.status.terminal
                    if parent not in task.soft_parents:
                        finished = parent_state.status.done
                    assert finished, f"{action.step} before {parent}"
            if isinstance(action, PublishEvent) and action.event.kind in TERMINAL_RUN_EVENTS:
                self.terminal_events += 1
        check_counters(state, self.plan)


def parents_of(state: RunState, plan: Plan, name: str) -> list[tuple[str, StepState | LoopState]]:
    """The parents of a step or loop instance, in its own iteration."""
    base, indexes = names.split(name)
    suffix = names.suffix(indexes)
    found: list[tuple[str, StepState | LoopState]] = []
    for parent in plan.node(base).parents:
        step = state.steps.get(parent + suffix)
        found.append((parent, step if step is not None else state.loops[parent + suffix]))
    return found


def check_counters(state: RunState, plan: Plan) -> None:
    """The O(1) counters agree with a full recount."""
    nodes: dict[str, StepState | LoopState] = {**state.steps, **state.loops}
    assert len(nodes) == len(state.steps) + len(state.loops)
    assert state.unfinished == sum(not n.status.terminal for n in nodes.values())
    active = {n: s.attempt for n, s in state.steps.items() if s.status in ACTIVE_STEP_STATUSES}
    assert state.active == active
    open_nodes: Counter[tuple[str, int]] = Counter()
    for name, node in nodes.items():
        base, indexes = names.split(name)
        soft = plan.node(base).soft_parents
        undone = sum(
            not (p.status.terminal if parent in soft else p.status.done)
            for parent, p in parents_of(state, plan, name)
        )
        assert node.waiting_on == undone, name
        scope = plan.node(base).scope
        if scope is not None and not node.status.terminal:
            open_nodes[(names.instance(scope, indexes[:-1]), indexes[-1])] += 1
    for name, loop in state.loops.items():
        assert loop.open == {i: open_nodes[(name, i)] for i in loop.open}, name
        assert not any(open_nodes[(name, i)] for i in range(loop.next) if i not in loop.open)
        width = plan.loops[names.node_of(name)].loop.parallelism
        assert width is None or len(loop.open) <= width


def _requested(plan: Plan) -> RunRequested:
    return RunRequested(pipeline=plan.name, pipeline_digest=plan.digest, spec_uri="file:///s")


def check_outcome(sim: Simulation, state: RunState) -> None:
    statuses = {name: step.status for name, step in state.steps.items()}
    assert all(status.terminal for status in statuses.values())
    assert sim.terminal_events == 1
    failed = [n for n, s in statuses.items() if s is StepStatus.FAILED]
    if sim.cancelled_while_live:
        assert state.status is RunStatus.CANCELLED
    elif failed:
        assert state.status is RunStatus.FAILED
        assert state.error is not None
        assert state.error.step in failed
    else:
        assert state.status is RunStatus.SUCCEEDED
        assert all(s.done for s in statuses.values())
    for name, status in statuses.items():
        if status is StepStatus.SKIPPED and not sim.cancelled_while_live:
            parents = [statuses[p] for p in sim.plan.tasks[name].parents]
            assert StepStatus.FAILED in parents or StepStatus.SKIPPED in parents


@pytest.mark.parametrize("seed", range(300))
def test_random_runs_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    sim = Simulation(rng=rng, plan=random_plan(rng))
    check_outcome(sim, sim.run())
