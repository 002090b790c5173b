"""RunState and the outbox: JSON round-trips, compactness, completing actions."""

from __future__ import annotations

from runner.core import (
    LaunchStep,
    PublishEvent,
    RunState,
    StepState,
    StopStep,
    complete_actions,
    pending_actions,
)
from runner.events import DATA_MODELS, RunFailed, StepRetrying, StepSkipped
from tests.unit.core.factories import RUN, Driver, artifact, chain, dag


def _busy_state() -> RunState:
    """A run with every action type and several event data models in its outbox."""
    d = Driver(dag({"a": [], "b": ["a"], "c": ["a"], "x": [], "y": ["x"]}, max_attempts=2))
    d.request()
    d.succeeded("a", outputs={"data": artifact("data")}, out={"nested": [1, 2.5, None]})
    d.launched("b")
    d.failed("c", 1)  # step.retrying + a delayed LaunchStep
    d.failed("x", 1)
    d.failed("x", 2)  # step.skipped
    d.cancel()  # StopStep
    return d.run


def test_json_round_trip_is_lossless_including_outbox_event_data() -> None:
    state = _busy_state()
    types = {a.type for a in state.outbox}
    assert types == {"launch_step", "publish_event", "stop_step"}
    data_types = {type(a.event.data) for a in state.outbox if isinstance(a, PublishEvent)}
    assert {StepRetrying, StepSkipped} <= data_types
    for exclude_defaults in (False, True):
        raw = state.model_dump_json(exclude_defaults=exclude_defaults)
        loaded = RunState.model_validate_json(raw)
        assert loaded == state
        assert loaded.model_dump_json() == state.model_dump_json()
        for action in loaded.outbox:
            if isinstance(action, PublishEvent):
                assert isinstance(action.event.data, DATA_MODELS[action.event.kind])


def test_python_mode_round_trip() -> None:
    state = _busy_state()
    assert RunState.model_validate(state.model_dump()) == state


def test_run_failed_data_round_trips() -> None:
    d = Driver(chain(1))
    d.request()
    d.failed("s0")
    (action,) = [a for a in d.run.outbox if isinstance(a, PublishEvent) and a.id.endswith("failed")]
    loaded = RunState.model_validate_json(d.run.model_dump_json(exclude_defaults=True))
    (again,) = [a for a in loaded.outbox if a.id == action.id]
    assert isinstance(again, PublishEvent)
    assert isinstance(again.event.data, RunFailed)
    assert again.event.data == action.event.data


def test_pending_step_dumps_to_almost_nothing() -> None:
    assert StepState().model_dump(exclude_defaults=True) == {}
    assert StepState(waiting_on=2).model_dump_json(exclude_defaults=True) == '{"waiting_on":2}'


def test_large_run_state_stays_small() -> None:
    d = Driver(chain(10_000), roundtrip=False)
    d.request()
    complete_actions(d.run, [a.id for a in d.run.outbox])
    size = len(d.run.model_dump_json(exclude_defaults=True))
    assert size < 10_000 * 30  # '"s123":{"waiting_on":1},' and the run's own fields
    # A finished step: status, attempt, launch id, a 64-char cache key, two timestamps.
    d.run_step("s0")
    step = d.run.steps["s0"]
    assert len(step.model_dump_json(exclude_defaults=True)) < 220


def test_actions_are_appended_to_the_outbox_and_completed_by_id() -> None:
    d = Driver(chain(2))
    decision = d.request()
    assert d.run.outbox == decision.actions
    assert pending_actions(d.run) == decision.actions
    ids = [a.id for a in decision.actions]
    assert ids == [f"publish/{RUN}/run.started", f"launch/{RUN}/s0/1"]

    complete_actions(d.run, [ids[0], "no-such-action"])
    assert [a.id for a in pending_actions(d.run)] == [ids[1]]
    nxt = d.succeeded("s0")
    assert [a.id for a in d.run.outbox] == [ids[1], *[a.id for a in nxt.actions]]
    returned = complete_actions(d.run, [a.id for a in d.run.outbox])
    assert returned is d.run
    assert pending_actions(d.run) == []


def test_pending_actions_is_a_copy() -> None:
    d = Driver(chain(1))
    d.request()
    pending = pending_actions(d.run)
    pending.clear()
    assert len(d.run.outbox) == 2


def test_action_ids_are_deterministic() -> None:
    first = Driver(chain(2)).request().actions
    second = Driver(chain(2)).request().actions
    assert [a.id for a in first] == [a.id for a in second]
    assert first == second


def test_action_types_dump_their_discriminator() -> None:
    launch = LaunchStep(id="l", run_id="r", pipeline="p", step="s", attempt=1, task="s")
    stop = StopStep(id="s", run_id="r", pipeline="p", step="s", attempt=1)
    assert launch.model_dump(exclude_defaults=True)["type"] == "launch_step"
    assert stop.model_dump(exclude_defaults=True)["type"] == "stop_step"
