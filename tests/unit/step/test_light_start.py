"""A cold step process imports only what it needs before it reports ``step.started``.

Every attempt without a warm worker (a Kubernetes pod, ``RUNNER_WARM=0``)
is a fresh interpreter, and what it imports before it reports is paid on
every step: not the authoring API, not aiohttp (nats-py imports it for
WebSocket only), no boto for a file store, no OpenTelemetry SDK with
tracing off, no CLI libraries. Each test runs a fresh interpreter and looks
at ``sys.modules``; the time it takes is measured by the bench
(``bench/step_start.py``), never asserted here.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.bus.base import Bus
from tests.fixtures.nats import NatsServer

FORBIDDEN = (
    "aiohttp",
    "aioboto3",
    "aiobotocore",
    "boto3",
    "botocore",
    "croniter",
    "kubernetes_asyncio",
    "opentelemetry.sdk",
    "rich",
    "typer",
    "runner.api",
    "runner.cli",
    "runner.controller",
    "runner.core",
    "runner.dsl",
    "runner.executors",
    "runner.store.s3",
)
"""Not one of these (nor a submodule) before step.started. ``runner.dsl`` is
imported after it (``runner.dsl.invoke`` calls the component)."""

_TRACING = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "RUNNER_TRACE_DIR")

_RECORD_MODULES_AT_STARTED = """
import json, sys
from runner.step.report import Reporter

_started = Reporter.started


async def started(self, **kwargs):
    with open(sys.argv[2], "w") as fh:
        json.dump(sorted(sys.modules), fh)
    await _started(self, **kwargs)


Reporter.started = started
from runner.step.main import main

sys.exit(main(["--request", sys.argv[1]]))
"""

_PIPELINE = """
from runner import component, pipeline


@component
def light(x: int) -> int:
    return x + 1


@pipeline(name="light-start")
def light_start():
    light(x=1)
"""


def _loaded(modules: list[str]) -> list[str]:
    return sorted({f for f in FORBIDDEN for m in modules if m == f or m.startswith(f + ".")})


def _modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout
    modules: list[str] = json.loads(out.splitlines()[-1])
    return modules


def _without_tracing() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _TRACING}


def test_importing_the_step_module_loads_none_of_them() -> None:
    modules = _modules_after("import runner.step.main", _without_tracing())
    assert _loaded(modules) == []
    assert "pydantic" in modules  # the probe sees what it should: the request's models


def test_import_runner_loads_nothing_of_the_authoring_api_until_asked() -> None:
    assert not [m for m in _modules_after("import runner") if m.startswith("runner.dsl")]
    modules = _modules_after("from runner import component, pipeline")
    assert "runner.dsl.component" in modules


def test_the_bus_face_loads_no_nats_client_until_asked() -> None:
    assert not [m for m in _modules_after("import runner.bus") if m.startswith("nats")]
    modules = _modules_after("from runner.bus import MemoryBus")
    assert "runner.bus.memory" in modules
    assert "runner.bus.embedded" not in modules


def test_the_nats_client_is_imported_without_aiohttp_which_stays_importable() -> None:
    modules = _modules_after(
        "from runner.bus.nats_import import import_nats_client\n"
        "import_nats_client('nats://127.0.0.1:4222')\n"
        "import nats.aio.client"
    )
    assert "nats.aio.client" in modules
    assert "aiohttp" not in modules
    later = _modules_after(
        "from runner.bus.nats_import import import_nats_client\n"
        "import_nats_client('nats://127.0.0.1:4222')\n"
        "import aiohttp"
    )
    assert "aiohttp" in later  # the step's own code may still use it


def test_a_websocket_url_gets_the_websocket_transport() -> None:
    modules = _modules_after(
        "from runner.bus.nats_import import import_nats_client\n"
        "import_nats_client('nats://a:4222, ws://b:8080')\n"
        "import nats.aio.transport\n"
        "assert nats.aio.transport.aiohttp is not None"
    )
    assert "aiohttp" in modules


def _request(tmp_path: Path, nats_url: str, module: str) -> tuple[Path, Path]:
    from runner.dsl.loader import load_pipeline
    from runner.step.request import StepRequest

    source = tmp_path / "src"
    source.mkdir()
    (source / f"{module}.py").write_text(_PIPELINE)
    loaded = load_pipeline(f"{source / module}.py:light_start")  # each test its own name
    spec = loaded.pipeline.compile()
    task = spec.tasks[0]
    request = StepRequest(
        run_id="light-1",
        pipeline=spec.name,
        step=task.name,
        attempt=1,
        task=task,
        component=spec.components[task.component],
        parameters={"x": 1},
        store_uri=(tmp_path / "store").as_uri(),
        nats_url=nats_url,
    )
    path = tmp_path / "request.json"
    request.write(path)
    return path, loaded.source_root


@pytest.mark.integration
@pytest.mark.parametrize("tracing", ["off", "file"])
async def test_a_real_step_reports_started_before_loading_any_of_them(
    tmp_path: Path, bus: Bus, nats_server: NatsServer, tracing: str
) -> None:
    request, source_root = _request(tmp_path, nats_server.url, f"light_start_{tracing}")
    env = _without_tracing()
    if tracing == "file":  # the local default: spans to <home>/traces, started after the report
        env["RUNNER_TRACE_DIR"] = str(tmp_path / "traces")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source_root), env.get("PYTHONPATH")]))
    env.pop("RUNNER_STEP_REQUEST", None)
    record = tmp_path / "modules.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _RECORD_MODULES_AT_STARTED, str(request), str(record),
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()[-2000:]  # it ran and reported succeeded
    modules = json.loads(record.read_text())
    assert "nats.aio.client" in modules  # it had connected: the list is from the report
    assert _loaded(modules) == []
    assert not [m for m in modules if m.startswith("opentelemetry")]
    if tracing == "file":
        assert list((tmp_path / "traces").rglob("*.jsonl"))  # and it did trace, afterwards


_PRELOAD_THEN_RECORD = (
    """
import importlib, json, sys
from runner.step.zygote import RUNTIME_MODULES

for name in RUNTIME_MODULES:
    importlib.import_module(name)
with open(sys.argv[3], "w") as fh:
    json.dump(sorted(sys.modules), fh)
"""
    + _RECORD_MODULES_AT_STARTED
)


@pytest.mark.integration
async def test_a_warm_workers_preload_leaves_nothing_of_runner_to_import_before_started(
    tmp_path: Path, bus: Bus, nats_server: NatsServer
) -> None:
    """What a forked step imports before it reports is paid on every fork: the
    zygote's preload must hold all of runner, nats-py and pydantic that it needs."""
    request, source_root = _request(tmp_path, nats_server.url, "light_start_warm")
    env = _without_tracing()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source_root), env.get("PYTHONPATH")]))
    env.pop("RUNNER_STEP_REQUEST", None)
    record, preloaded = tmp_path / "modules.json", tmp_path / "preloaded.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _PRELOAD_THEN_RECORD, str(request), str(record), str(preloaded),
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    before = set(json.loads(preloaded.read_text()))
    new = sorted(set(json.loads(record.read_text())) - before)
    ours = [m for m in new if m.split(".")[0] in ("runner", "nats", "pydantic", "pydantic_core")]
    assert ours == [], f"imported after the warm worker's preload, before step.started: {ours}"
