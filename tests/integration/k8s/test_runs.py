"""Runs through the fake cluster with a real NATS and store: each way a pod can
die without its step reporting surfaces as a clear ``step.failed``.

The controller runs in-process (``Stack`` with ``executor=kubernetes``);
the fake kubelet runs each Job's ``python -m runner.step`` as a local process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.api import submit
from runner.config import KubernetesSettings, Settings
from runner.core import RunStatus
from runner.executors.kubernetes_manifest import job_name
from runner.stack import Stack
from runner.store.keys import log_key
from tests.integration.k8s.fake_kubelet import FakeCluster
from tests.integration.k8s.pipelines import FAULTS
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def k8s_stack(tmp_path: Path, k8s_settings: KubernetesSettings) -> AsyncIterator[Stack]:
    settings = Settings(home=tmp_path / "home", executor="kubernetes", kubernetes=k8s_settings)
    async with Stack(settings) as stack:
        yield stack


async def test_each_silent_death_is_reported_with_its_reason(
    k8s_stack: Stack, cluster: FakeCluster, write_pipeline, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    handles = {}
    for func in ("oom", "deadline", "evicted", "lost", "crash", "fine_pipeline"):
        loaded = write_pipeline(FAULTS, func)
        handles[func] = await submit(
            loaded.pipeline, {"marks": str(marks)}, bus=k8s_stack.bus, store=k8s_stack.store,
            source_root=loaded.source_root,
        )  # fmt: skip
    # Evict one pod and lose the node of another once their steps are running.
    for name, fault in (("evicted", cluster.evict), ("lost", cluster.lose_node)):
        await until(lambda n=name: (marks / n).exists(), f"step of {name} to start", timeout=60)
        job = job_name(handles[name].run_id, "victim", 1)
        await until(lambda j=job: cluster.running_pod(j), f"pod of {name} to run", timeout=15)
        fault(cluster.running_pod(job) or "")
    # A pod lost with its node was not the step's fault: it is relaunched at once
    # (without spending a retry), and the reason is kept.
    lost = handles.pop("lost")

    async def relaunched() -> bool:
        state = await lost.state()
        step = state.steps["victim"] if state is not None else None
        return step is not None and step.attempt == 2 and step.lost == 1

    await until(relaunched, "the lost attempt to be relaunched", timeout=60, interval=0.1)
    state = await lost.state()
    assert state is not None
    error = state.steps["victim"].error
    assert error is not None
    assert error.reason == "NodeLost"
    assert "node no longer exists" in error.message
    await lost.cancel()
    states = dict(
        zip(
            handles,
            await asyncio.gather(*(h.wait(timeout=90) for h in handles.values())),
            strict=True,
        )
    )
    expected = {
        "oom": ("hog", "OOMKilled", "out of memory"),
        "deadline": ("sleeper", "Timeout", "DeadlineExceeded"),
        "evicted": ("victim", "Evicted", "low on resource"),
        "crash": ("crasher", "ExitCode", "crasher-last-words"),
    }
    for func, (step, reason, words) in expected.items():
        state = states[func]
        assert state.status is RunStatus.FAILED, func
        error = state.steps[step].error
        assert error is not None, func
        assert (error.reason, error.step) == (reason, step), (func, error)
        assert words in error.message, (func, error.message)
    assert states["fine_pipeline"].status is RunStatus.SUCCEEDED
    assert states["fine_pipeline"].steps["fine"].parameters == {"output": 42}
    # The executor copies each pod's log to the store, as the local executor does.
    crash_log = await k8s_stack.store.get_bytes(log_key(handles["crash"].run_id, "crasher", 1))
    assert b"crasher-last-words" in crash_log
    jobs = cluster.api.items("jobs", "runner")
    fine_job = next(j for j in jobs if j["metadata"]["annotations"]["runner.io/step"] == "fine")
    resources = fine_job["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
