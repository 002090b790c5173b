"""decide under at-least-once delivery: duplicates, echoes, reordering, rejections."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runner.core import Decision, Plan, RunStatus, StepStatus, decide
from runner.events import (
    ArtifactRef,
    Event,
    EventKind,
    RunRequested,
    RunStarted,
    StepLaunched,
    StepPending,
    StepSucceeded,
    make_event,
)
from runner.spec import TaskOutputInput
from tests.unit.core.factories import (
    PIPELINE,
    RUN,
    T0,
    Driver,
    chain,
    component,
    dag,
    kinds,
    launched_steps,
    launches,
    spec,
    statuses,
    task,
)


class StrictDriver(Driver):
    """Delivers every event twice and echoes every published event back.

    The second delivery and the echoes must change nothing and decide nothing.
    """

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self.kinds_seen: set[EventKind] = set()

    def deliver(self, event: Event) -> Decision:
        decision = super().deliver(event)
        self.kinds_seen.add(event.kind)
        echoes = [a.event for a in decision.actions if a.type == "publish_event"]
        for again in [event, *echoes]:
            self.kinds_seen.add(again.kind)
            before = self.state.model_dump_json() if self.state else None
            repeat = super().deliver(again)
            assert repeat.actions == [], f"redelivered {again.id} decided {repeat.actions}"
            assert repeat.rejected is None
            assert (self.state.model_dump_json() if self.state else None) == before, again.id
        return decision


def _success_with_retry_and_cache(d: Driver) -> None:
    d.request()
    d.launched("s0")
    # Informational: the executor says why the attempt has not started yet.
    pending = d.send(
        EventKind.STEP_PENDING,
        StepPending(attempt=1, reason="Unschedulable", message="0/3 nodes are available"),
        "s0",
        1,
    )
    assert pending.actions == []
    assert pending.rejected is None
    d.started("s0")
    d.failed("s0", 1)
    d.run_step("s0", 2)
    key = d.run.steps["s1"].cache_key
    assert key
    d.cached("s1", key)
    assert d.run.status is RunStatus.SUCCEEDED


def _failure(d: Driver) -> None:
    d.request()
    d.failed("s0", 1)
    d.failed("s0", 2)
    assert d.run.status is RunStatus.FAILED


def _cancel(d: Driver) -> None:
    d.request()
    d.launched("s0")
    d.cancel()
    d.failed("s0", reason="Cancelled")
    assert d.run.status is RunStatus.CANCELLED


def _invalid(d: Driver) -> None:
    d.request(nope=1)
    assert d.run.status is RunStatus.FAILED


SCENARIOS: list[Callable[[Driver], None]] = [_success_with_retry_and_cache, _failure, _cancel]


def test_every_event_kind_is_idempotent_and_every_echo_a_no_op() -> None:
    seen: set[EventKind] = set()
    for scenario in SCENARIOS:
        d = StrictDriver(dag({"s0": [], "s1": ["s0"]}, max_attempts=2))
        scenario(d)
        seen |= d.kinds_seen
    d = StrictDriver(chain(1))
    _invalid(d)
    seen |= d.kinds_seen
    # Missing input: the controller's own step.failed echo.
    d = StrictDriver(_missing_input_plan())
    d.request()
    d.succeeded("a")
    seen |= d.kinds_seen
    assert seen == set(EventKind)


def _missing_input_plan() -> Plan:
    consumer = component("consume", params=["n"])
    return Plan.from_spec(
        spec(
            task("a"),
            task(
                "b", "a", component="consume", inputs={"n": TaskOutputInput(task="a", output="n")}
            ),
            components=[consumer],
        )
    )


def test_second_run_requested_is_a_no_op() -> None:
    d = Driver(chain(2))
    d.request()
    before = d.run.model_dump_json()
    again = d.request(other=1)
    assert (again.actions, again.rejected) == ([], None)
    assert d.run.model_dump_json() == before


def test_succeeded_before_launched_and_started() -> None:
    d = Driver(chain(2))
    d.request()
    assert launched_steps(d.succeeded("s0")) == ["s1"]
    assert d.launched("s0").actions == []
    assert d.started("s0").actions == []
    step = d.run.steps["s0"]
    assert (step.status, step.launch_id, step.started_at) == (StepStatus.SUCCEEDED, None, None)


def test_started_before_launched() -> None:
    d = Driver(chain(1))
    d.request()
    d.started("s0")
    assert d.run.steps["s0"].status is StepStatus.RUNNING
    d.launched("s0")
    step = d.run.steps["s0"]
    assert (step.launch_id, step.started_at) == ("s0-1", T0)


def test_events_of_an_old_attempt_are_ignored() -> None:
    d = Driver(chain(1))
    d.plan = dag({"s0": []}, max_attempts=3)
    d.request()
    d.failed("s0", 1)
    d.launched("s0", 2)
    before = d.run.model_dump_json()
    for stale in (d.launched("s0", 1), d.started("s0", 1), d.succeeded("s0", 1), d.failed("s0", 1)):
        assert (stale.actions, stale.rejected) == ([], None)
    assert d.launched("s0", 7).actions == []  # never issued
    assert d.run.model_dump_json() == before


def test_events_for_pending_step_are_ignored() -> None:
    d = Driver(chain(2))
    d.request()
    for early in (d.launched("s1"), d.succeeded("s1"), d.failed("s1")):
        assert (early.actions, early.rejected) == ([], None)
    assert d.run.steps["s1"].status is StepStatus.PENDING


def _event(kind: EventKind, data: object, **fields: object) -> Event:
    values: dict[str, object] = {"run_id": RUN, "pipeline": PIPELINE, "time": T0}
    values.update(fields)
    return make_event(kind, data=data, **values)  # type: ignore[arg-type]


def test_unknown_run_is_rejected() -> None:
    event = _event(EventKind.STEP_LAUNCHED, StepLaunched(attempt=1, executor="x", launch_id="l"))
    decision = decide(None, event, chain(1), T0)
    assert decision.state is None
    assert decision.rejected == f"unknown run {RUN!r}"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"step": "nope"}, "unknown step 'nope'"),
        ({"step": None}, "step.succeeded without a step"),
        ({"step": "s0", "run_id": "r2"}, "event for run demo/r2"),
        ({"step": "s0", "pipeline": "other"}, "event for run other/r1"),
    ],
)
def test_inconsistent_step_events_are_rejected(fields: dict[str, object], reason: str) -> None:
    d = Driver(chain(1))
    d.request()
    before = d.run.model_dump_json()
    decision = d.deliver(_event(EventKind.STEP_SUCCEEDED, StepSucceeded(attempt=1), **fields))
    assert decision.rejected is not None
    assert decision.rejected.startswith(reason)
    assert decision.actions == []
    assert d.run.model_dump_json() == before


def test_data_of_the_wrong_kind_is_rejected() -> None:
    d = Driver(chain(1))
    d.request()
    good = _event(EventKind.RUN_STARTED, RunStarted(pipeline_digest="x", steps=1))
    bad = good.model_copy(update={"kind": EventKind.STEP_SUCCEEDED, "step": "s0"})
    assert d.deliver(bad).rejected == "step.succeeded carries RunStarted"


def test_run_requested_for_another_pipeline_version_is_rejected() -> None:
    d = Driver(chain(2))
    event = d.event(EventKind.RUN_REQUESTED, _requested(d.plan.digest))
    decision = decide(None, event, chain(1), T0)
    assert decision.state is None
    assert decision.rejected is not None
    assert "digest" in decision.rejected


def test_run_requested_naming_another_pipeline_is_rejected() -> None:
    plan = chain(1)
    data = _requested(plan.digest).model_copy(update={"pipeline": "other"})
    decision = decide(None, _event(EventKind.RUN_REQUESTED, data), plan, T0)
    assert decision.rejected == f"run {RUN!r} is not of pipeline {PIPELINE!r}"


def _requested(digest: str) -> RunRequested:
    return RunRequested(pipeline=PIPELINE, pipeline_digest=digest, spec_uri="file:///s.json")


def test_step_event_with_a_plan_of_another_digest_is_rejected() -> None:
    d = Driver(chain(1))
    d.request()
    d.plan = chain(2)
    assert "digest" in (d.launched("s0").rejected or "")


def test_step_events_of_a_run_that_never_started_are_ignored() -> None:
    d = Driver(chain(1))
    d.request(nope=1)
    decision = d.succeeded("s0")
    assert (decision.actions, decision.rejected) == ([], None)


def test_duplicate_success_with_different_payload_keeps_the_first() -> None:
    d = Driver(chain(2))
    d.request()
    ref = ArtifactRef(uri="file:///a", digest="sha256:1", size=1)
    d.succeeded("s0", outputs={"x": ref}, out=1)
    assert d.succeeded("s0", out=2).actions == []
    assert d.run.steps["s0"].parameters == {"out": 1}
    assert statuses(d.run)["s1"] == "launching"


def test_kinds_helper_lists_published_kinds() -> None:
    d = Driver(chain(1))
    assert kinds(d.request()) == ["run.started"]
    assert launches(d.history[-1])[0].step == "s0"
