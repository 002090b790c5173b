"""decide, the happy paths: chains, fan-out/fan-in, inputs, caching, run completion."""

from __future__ import annotations

import pytest

from runner.core import Plan, RunStatus, StepStatus, compute_cache_key
from runner.events import EventKind, RunRequested
from runner.spec import (
    ConstantInput,
    InputDecl,
    IOKind,
    ParameterDecl,
    ParameterType,
    PipelineParameterInput,
    TaskOutputInput,
)
from tests.unit.core.factories import (
    RUN,
    Driver,
    artifact,
    chain,
    component,
    dag,
    kinds,
    launched_steps,
    launches,
    published,
    spec,
    statuses,
    task,
)


def test_linear_chain_runs_to_success() -> None:
    d = Driver(chain(3))
    first = d.request()
    assert kinds(first) == ["run.started"]
    assert launched_steps(first) == ["s0"]
    assert d.run.status.value == "running"
    assert statuses(d.run) == {"s0": "launching", "s1": "pending", "s2": "pending"}

    assert launched_steps(d.launched("s0")) == []
    assert d.run.steps["s0"].status is StepStatus.RUNNING
    assert d.run.steps["s0"].launch_id == "s0-1"
    d.tick()
    d.started("s0")
    assert d.run.steps["s0"].started_at == d.now
    assert launched_steps(d.succeeded("s0")) == ["s1"]
    assert launched_steps(d.run_step("s1")) == ["s2"]
    d.tick(9)
    last = d.run_step("s2")
    assert kinds(last) == ["run.succeeded"]
    assert published(last)[0].data.model_dump() == {"duration_seconds": 10.0}
    assert d.run.status is RunStatus.SUCCEEDED
    assert d.run.finished_at == d.now
    assert d.run.unfinished == 0
    assert d.run.active == {}


def test_launch_step_carries_identity_and_attempt() -> None:
    d = Driver(chain(1))
    (launch,) = launches(d.request())
    assert (launch.id, launch.run_id, launch.pipeline) == (f"launch/{RUN}/s0/1", RUN, "demo")
    assert (launch.step, launch.task, launch.attempt, launch.not_before) == ("s0", "s0", 1, None)


def test_fan_out_and_fan_in_readiness() -> None:
    d = Driver(dag({"a": [], "b": ["a"], "c": ["a"], "d": ["a"], "join": ["b", "c", "d"]}))
    d.request()
    assert sorted(launched_steps(d.run_step("a"))) == ["b", "c", "d"]
    assert d.run.steps["join"].waiting_on == 3
    assert launched_steps(d.run_step("c")) == []
    assert launched_steps(d.run_step("b")) == []
    assert d.run.steps["join"].waiting_on == 1
    assert launched_steps(d.run_step("d")) == ["join"]
    assert kinds(d.run_step("join")) == ["run.succeeded"]


def test_several_roots_launch_at_start() -> None:
    d = Driver(dag({"a": [], "b": [], "c": ["a", "b"]}))
    assert launched_steps(d.request()) == ["a", "b"]
    assert d.run.unfinished == 3
    assert list(d.run.active) == ["a", "b"]


def test_empty_pipeline_succeeds_at_once() -> None:
    d = Driver(Plan.from_spec(spec()))
    assert kinds(d.request()) == ["run.started", "run.succeeded"]
    assert d.run.status is RunStatus.SUCCEEDED


def _wired_plan(caching: bool = True) -> Plan:
    producer = component("produce", outputs=["count"], artifact_outputs=["data"])
    consumer = component("consume", params=["n", "k", "lr"], artifacts=["data"])
    consume = task(
        "consume",
        "produce",
        component="consume",
        caching=caching,
        inputs={
            "n": TaskOutputInput(task="produce", output="count"),
            "k": ConstantInput(value=3),
            "lr": PipelineParameterInput(parameter="lr"),
            "data": TaskOutputInput(task="produce", output="data"),
        },
    )
    lr = ParameterDecl(name="lr", type=ParameterType.FLOAT, optional=True, default=0.1)
    return Plan.from_spec(
        spec(
            task("produce", component="produce"),
            consume,
            components=[producer, consumer],
            parameters=[lr],
        )
    )


def test_inputs_resolved_from_constants_parameters_and_upstream_outputs() -> None:
    plan = _wired_plan()
    d = Driver(plan)
    d.request(lr=2)
    data = artifact("data", digest="sha256:d1")
    (launch,) = launches(d.succeeded("produce", outputs={"data": data}, count=7))
    assert launch.parameters == {"n": 7, "k": 3, "lr": 2.0}
    assert isinstance(launch.parameters["lr"], float)
    assert launch.artifacts == {"data": data}
    tp = plan.tasks["consume"]
    assert launch.cache_key == compute_cache_key(
        tp.component, tp.task, launch.parameters, launch.artifacts
    )
    assert d.run.steps["consume"].cache_key == launch.cache_key


def test_defaults_of_pipeline_parameters_are_applied() -> None:
    d = Driver(_wired_plan())
    d.request()
    assert d.run.parameters == {"lr": 0.1}
    (launch,) = launches(d.succeeded("produce", outputs={"data": artifact("d")}, count=1))
    assert launch.parameters["lr"] == 0.1


def test_unbound_optional_component_input_gets_its_default() -> None:
    depth = InputDecl(name="depth", kind=IOKind.PARAMETER, optional=True, default=4)
    comp = component("opt").model_copy(update={"inputs": [depth]})
    d = Driver(Plan.from_spec(spec(task("a", component="opt"), components=[comp])))
    (launch,) = launches(d.request())
    assert launch.parameters == {"depth": 4}


@pytest.mark.parametrize(
    ("no_cache", "caching", "keyed"),
    [(False, True, True), (True, True, False), (False, False, False)],
)
def test_caching_off_means_no_cache_key(no_cache: bool, caching: bool, keyed: bool) -> None:
    d = Driver(_wired_plan(caching=caching))
    (root,) = launches(d.request(no_cache=no_cache))
    assert (root.cache_key is not None) == (not no_cache)
    (launch,) = launches(d.succeeded("produce", outputs={"data": artifact("d")}, count=1))
    assert (launch.cache_key is not None) is keyed


def test_cached_step_completes_and_releases_children() -> None:
    d = Driver(chain(2))
    (launch,) = launches(d.request())
    assert launch.cache_key
    assert launched_steps(d.cached("s0", launch.cache_key, out=5)) == ["s1"]
    step = d.run.steps["s0"]
    assert (step.status, step.cached, step.parameters) == (StepStatus.CACHED, True, {"out": 5})
    assert d.run.unfinished == 1


def test_cached_with_another_key_is_ignored() -> None:
    d = Driver(chain(2))
    d.request()
    assert d.cached("s0", "0" * 64).actions == []
    assert d.run.steps["s0"].status is StepStatus.LAUNCHING


def test_missing_upstream_output_fails_the_child_and_skips_below() -> None:
    producer = component("produce", outputs=["count"])
    consumer = component("consume", params=["n"])
    plan = Plan.from_spec(
        spec(
            task("produce", component="produce"),
            task(
                "consume",
                "produce",
                component="consume",
                inputs={"n": TaskOutputInput(task="produce", output="count")},
            ),
            task("after", "consume"),
            components=[producer, consumer],
        )
    )
    d = Driver(plan)
    d.request()
    decision = d.succeeded("produce", other=1)
    assert launches(decision) == []
    assert kinds(decision) == ["step.failed", "step.skipped", "run.failed"]
    failed = published(decision)[0]
    assert failed.step == "consume"
    assert failed.id == f"{RUN}/consume/1/step.failed"
    error = d.run.steps["consume"].error
    assert error is not None
    assert error.reason == "MissingInput"
    assert "'count'" in error.message
    assert "'produce'" in error.message
    assert d.run.error == error
    assert statuses(d.run) == {"produce": "succeeded", "consume": "failed", "after": "skipped"}
    # Its echo changes nothing.
    before = d.run.model_dump_json()
    assert d.deliver(failed).actions == []
    assert d.run.model_dump_json() == before


def test_trace_context_of_the_request_rides_on_every_controller_event() -> None:
    d = Driver(dag({"a": []}, max_attempts=2))
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    request = d.event(EventKind.RUN_REQUESTED, _requested(d.plan))
    request = request.model_copy(update={"traceparent": parent, "tracestate": "k=v"})
    first = d.deliver(request)
    assert (d.run.traceparent, d.run.tracestate) == (parent, "k=v")
    later = d.failed("a", 1)  # after a JSON round-trip of the state
    for event in published(first) + published(later):
        assert (event.traceparent, event.tracestate) == (parent, "k=v")


def _requested(plan: Plan) -> RunRequested:
    return RunRequested(pipeline=plan.name, pipeline_digest=plan.digest, spec_uri="file:///s")
