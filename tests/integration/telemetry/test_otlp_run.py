"""A real run exported over OTLP/HTTP: one trace, the right tree, the attributes.

The controller runs in-process (:class:`~runner.stack.Stack`), the
steps as real ``python -m runner.step`` processes; all of them export to an
in-test OTLP receiver that decodes protobuf with ``opentelemetry-proto``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.api import submit
from runner.config import Settings
from runner.core import RunStatus
from runner.dsl.loader import LoadedPipeline
from runner.stack import Stack
from tests.integration.telemetry.conftest import TRACED
from tests.integration.telemetry.receiver import (
    OtlpReceiver,
    Received,
    assert_one_tree,
    trace_of,
)

pytestmark = pytest.mark.integration


def one(spans: list[Received], name: str, **resource: object) -> Received:
    found = [
        s
        for s in spans
        if s.name == name and all(s.resource.get(k) == v for k, v in resource.items())
    ]
    assert len(found) == 1, f"{len(found)} spans named {name!r} {resource}"
    return found[0]


async def test_a_run_is_one_trace_across_the_controller_and_every_step(
    tmp_path: Path,
    receiver: OtlpReceiver,
    otel_env: dict[str, str],
    write_pipeline: Callable[[str, str], LoadedPipeline],
) -> None:
    loaded = write_pipeline(TRACED, "traced")
    params = {"marker": str(tmp_path / "marker")}
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        runs = []
        for _ in range(2):  # the second run: make and total are cache hits
            handle = await submit(
                loaded.pipeline, params, bus=stack.bus, store=stack.store,
                source_root=loaded.source_root,
            )  # fmt: skip
            state = await handle.wait(timeout=120)
            assert state.status is RunStatus.SUCCEEDED, state.error
            runs.append(handle.run_id)
        assert stack.executor is not None
        await stack.executor.wait_idle()  # every step process exited: its spans are flushed
    # The stack is closed: the controller flushed the run spans.
    first, second = (trace_of(receiver.spans(), run) for run in runs)
    assert first[0].trace_id != second[0].trace_id

    root = assert_one_tree(first)
    assert root.name == "run traced"
    assert root.service == "runner-controller"
    assert root.attributes["runner.status"] == "succeeded"
    assert root.attributes["runner.pipeline"] == "traced"
    assert root.attributes["runner.experiment"] == "default"
    assert root.attributes["runner.parameters"] == ["marker", "n"]
    assert "runner.pipeline.digest" in root.attributes
    assert {s.service for s in first} == {"runner-controller", "runner-step"}

    steps = {
        (s.attributes["runner.step"], s.attributes["runner.attempt"]): s
        for s in first
        if s.name.startswith("step ")
    }
    assert set(steps) == {("make", 1), ("flaky", 1), ("flaky", 2), ("total", 1)}
    assert all(s.parent_id == root.span_id for s in steps.values())

    make = steps[("make", 1)]
    assert make.attributes["runner.image"] == "python:3.11-slim"
    assert make.attributes["runner.gpu.count"] == 1
    assert make.attributes["runner.gpu.accelerator"] == "nvidia-h100"
    assert make.attributes["runner.executor"] == "local"
    assert make.attributes["runner.cached"] is False
    assert make.attributes["runner.launch_id"]
    assert {"queued", "started"} <= set(make.events)

    failed = steps[("flaky", 1)]
    assert failed.status == 2
    assert failed.attributes["runner.status"] == "retried"
    assert failed.attributes["runner.exit_reason"] == "Exception"
    assert failed.events["exception"]["exception.type"] == "ValueError"
    assert steps[("flaky", 2)].status != 2

    # Inside each step process: its spans are children of that attempt's span.
    for (step, attempt), span in steps.items():
        fetch = one(first, "fetch inputs", **{"runner.step": step, "runner.attempt": attempt})
        assert fetch.parent_id == span.span_id
        assert fetch.resource["runner.run_id"] == runs[0]
    run_make = one(first, "run make")
    assert run_make.parent_id == make.span_id
    user = one(first, "user work")
    assert user.parent_id == run_make.span_id
    assert user.attributes["rows"] == 5
    run_flaky = one(first, "run flaky", **{"runner.attempt": 1})
    assert run_flaky.status == 2
    assert run_flaky.events["exception"]["exception.type"] == "ValueError"
    manifest = one(first, "write cache manifest", **{"runner.step": "make"})
    assert manifest.parent_id == make.span_id

    # Controller work is in the run's trace too.
    launch = one(first, "launch make")
    assert launch.service == "runner-controller"

    # Cache hits are short spans marked cached, with no step process behind them.
    assert_one_tree(second)
    cached = [s for s in second if s.name in ("step make", "step total")]
    assert len(cached) == 2
    assert all(s.attributes["runner.cached"] is True for s in cached)
    assert not [s for s in second if s.service == "runner-step" and s.name == "run make"]


ONE_STEP = """
from runner import component, pipeline


@component
def hello() -> str:
    return "hi"


@pipeline(name="lonely")
def lonely():
    hello().set_caching(False)
"""


async def test_an_unreachable_collector_does_not_fail_the_run(
    tmp_path: Path,
    otel_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    write_pipeline: Callable[[str, str], LoadedPipeline],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")
    monkeypatch.setenv("RUNNER_TRACE_FLUSH_TIMEOUT", "1")
    loaded = write_pipeline(ONE_STEP, "lonely")
    async with Stack(Settings(home=tmp_path / "home")) as stack:
        handle = await submit(
            loaded.pipeline, {}, bus=stack.bus, store=stack.store, source_root=loaded.source_root
        )
        state = await handle.wait(timeout=120)
        assert stack.executor is not None
        await stack.executor.wait_idle()
    assert state.status is RunStatus.SUCCEEDED, state.error
    assert state.steps["hello"].parameters["output"] == "hi"
