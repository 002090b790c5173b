"""A request whose spec cannot be loaded becomes a failed run, with run.failed queued."""

from __future__ import annotations

from runner.core import PublishEvent, RunStatus
from runner.core.scheduler_run import unloadable_run
from runner.events import ErrorInfo, EventKind, RunFailed, RunRequested
from tests.unit.core.factories import PIPELINE, T0, Driver, dag


def test_the_record_says_why_and_queues_run_failed() -> None:
    d = Driver(dag({"a": []}))
    data = RunRequested(
        pipeline=PIPELINE, pipeline_digest="0" * 64, spec_uri="file:///nowhere.json",
        parameters={"x": 1}, experiment="exp",
    )  # fmt: skip
    request = d.event(EventKind.RUN_REQUESTED, data)
    error = ErrorInfo(reason="SpecUnavailable", message="cannot load the spec")
    state = unloadable_run(request, error, T0)
    assert state.status is RunStatus.FAILED
    assert state.error == error
    assert (state.created_at, state.finished_at) == (T0, T0)
    assert (state.parameters, state.experiment, state.spec_uri) == (
        {"x": 1}, "exp", "file:///nowhere.json",
    )  # fmt: skip
    assert state.steps == {}
    assert state.unfinished == 0
    [action] = state.outbox
    assert isinstance(action, PublishEvent)
    assert action.event.kind is EventKind.RUN_FAILED
    assert action.event.id == f"{state.run_id}/run.failed"
    assert isinstance(action.event.data, RunFailed)
    assert action.event.data.error == error
