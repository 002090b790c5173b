"""``runner controller`` as a process, reaching the (fake) cluster through KUBECONFIG:
probes answer, a submitted run completes as Jobs, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.api import submit
from runner.bus import connect
from runner.config import NatsSettings
from runner.core import RunStatus
from runner.store.factory import open_store
from tests.integration.k8s.fake_kubelet import NAMESPACE, FakeCluster
from tests.integration.k8s.pipelines import FAULTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def start(
    argv: list[str], env: dict[str, str], started: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    started.append(proc)
    return proc


async def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> str:
    """Lines of the process's output up to the first that matches ``pattern``."""
    assert proc.stdout is not None
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            line = await asyncio.to_thread(proc.stdout.readline)
            if not line:
                pytest.fail(f"controller exited ({proc.wait()}): {''.join(seen)}")
            seen.append(line)
            if re.search(pattern, line):
                return line


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def test_runner_controller_runs_steps_as_jobs(
    tmp_path: Path, nats_url: str, cluster: FakeCluster, processes, write_pipeline,
    unused_tcp_port: int,
) -> None:  # fmt: skip
    store_uri = (tmp_path / "store").as_uri()
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        "RUNNER_K8S_NAMESPACE": NAMESPACE,
        "RUNNER_K8S_IN_CLUSTER": "false",
        "RUNNER_HOME": str(tmp_path / "home"),
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    argv = [
        sys.executable, "-m", "runner.cli", "controller", "--executor", "kubernetes",
        "--nats", nats_url, "--store", store_uri, "--health-port", str(unused_tcp_port),
        "--health-host", "127.0.0.1",
    ]  # fmt: skip
    proc = start(argv, env, processes)
    probes = await read_until(proc, r"health probes on")
    base = re.search(r"(http://\S+)/healthz", probes)
    assert base is not None
    await read_until(proc, r"runner controller ready: executor kubernetes")
    assert await asyncio.to_thread(http_status, base.group(1) + "/readyz") == 200
    assert await asyncio.to_thread(http_status, base.group(1) + "/healthz") == 200

    marks = tmp_path / "marks"
    marks.mkdir()
    bus = await connect(NatsSettings(), url=nats_url)
    store = open_store(store_uri)
    try:
        loaded = write_pipeline(FAULTS, "fine_pipeline")
        handle = await submit(
            loaded.pipeline, {"marks": str(marks)}, bus=bus, store=store,
            source_root=loaded.source_root,
        )  # fmt: skip
        state = await handle.wait(timeout=90)
    finally:
        await store.close()
        await bus.close()
    assert state.status is RunStatus.SUCCEEDED
    assert cluster.api.requests["POST jobs"] == 1

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0
