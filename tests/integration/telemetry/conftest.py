"""An OTLP receiver, the environment that points runner at it, and traced pipelines."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.dsl.loader import LoadedPipeline, load_pipeline
from tests.integration.telemetry.receiver import OtlpReceiver

_counter = itertools.count()

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "TRACEPARENT",
    "TRACESTATE",
)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def otel_env(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every runner process of the test exports to ``receiver`` (steps inherit it)."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second
        "RUNNER_LOCAL_STRICT_GPU": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def write_pipeline(tmp_path: Path) -> Callable[[str, str], LoadedPipeline]:
    """Write pipeline source into a fresh source tree (a unique module) and load it."""

    def write(source: str, func: str) -> LoadedPipeline:
        n = next(_counter)
        root = tmp_path / f"src{n}"
        root.mkdir()
        path = root / f"traced_{func}_{n}.py"
        path.write_text(source)
        return load_pipeline(f"{path}:{func}")

    return write


TRACED = """
import json
import os

from opentelemetry import trace

from runner import Dataset, Input, Output, component, pipeline


@component(image="python:3.11-slim")
def make(n: int, data: Output[Dataset]) -> int:
    with trace.get_tracer("user-code").start_as_current_span("user work") as span:
        span.set_attribute("rows", n)
        with open(data.path, "w") as fh:
            json.dump(list(range(n)), fh)
    return n


@component
def flaky(marker: str, data: Input[Dataset]) -> int:
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError("first attempt fails on purpose")
    with open(data.path) as fh:
        return len(json.load(fh))


@component
def total(data: Input[Dataset]) -> int:
    with open(data.path) as fh:
        return sum(json.load(fh))


@pipeline(name="traced")
def traced(n: int = 5, marker: str = ""):
    m = make(n=n).set_resources(gpu=1, accelerator="nvidia-h100")
    f = flaky(marker=marker, data=m.outputs["data"]).set_retry(max_attempts=2, backoff=0.1)
    f.set_caching(False)
    total(data=m.outputs["data"]).after(f)
"""

SLOW_CHAIN = """
import os
import time

from runner import component, pipeline


@component
def work(log_dir: str, name: str, seconds: float, x: int) -> int:
    with open(os.path.join(log_dir, name), "a") as fh:
        fh.write(str(os.getpid()) + "\\n")
    time.sleep(seconds)
    return x + 1


@pipeline(name="slowchain")
def slowchain(log_dir: str = "", seconds: float = 2.0):
    a = work(log_dir=log_dir, name="a", seconds=seconds, x=0).set_caching(False)
    b = work(log_dir=log_dir, name="b", seconds=0.0, x=a.output).set_caching(False)
    work(log_dir=log_dir, name="c", seconds=0.0, x=b.output).set_caching(False)
"""
