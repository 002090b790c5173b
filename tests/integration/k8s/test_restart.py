"""A controller restart mid-run: the new controller adopts the Jobs the old one
started (no duplicates), sees what finished while nobody watched, and
reports a pod that died meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.api import RunHandle, submit
from runner.config import KubernetesSettings, NatsSettings, Settings
from runner.core import RunStatus
from runner.executors.kubernetes_manifest import job_name
from runner.stack import Stack
from tests.integration.k8s.fake_kubelet import NAMESPACE, FakeCluster
from tests.integration.k8s.pipelines import GATED
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_restarted_controller_adopts_running_jobs(
    tmp_path: Path, nats_url: str, k8s_settings: KubernetesSettings, cluster: FakeCluster,
    write_pipeline,
) -> None:  # fmt: skip
    marks = tmp_path / "marks"
    marks.mkdir()
    settings = Settings(
        home=tmp_path / "home", executor="kubernetes", kubernetes=k8s_settings,
        nats=NatsSettings(url=nats_url),
    )  # fmt: skip
    loaded = write_pipeline(GATED, "gated_pipeline")
    async with Stack(settings, controller=True) as first:
        handle = await submit(
            loaded.pipeline, {"marks": str(marks)}, bus=first.bus, store=first.store,
            source_root=loaded.source_root,
        )  # fmt: skip
        for name in ("a", "c"):
            await until(lambda n=name: (marks / f"{n}-started").exists(), f"step {name}", 60)
    # No controller now. Step a finishes (and reports itself); c's node is lost.
    (marks / "a-gate").write_text("")
    await until(
        lambda: cluster.api.get("jobs", NAMESPACE, job_name(handle.run_id, "gated", 1)),
        "job",
        timeout=15,
    )
    c_job = next(
        j["metadata"]["name"]
        for j in cluster.api.items("jobs", NAMESPACE)
        if j["metadata"]["annotations"]["runner.io/step"] == "gated-2"
    )
    cluster.lose_node(cluster.running_pod(c_job) or "")

    async with Stack(settings, controller=True) as second:
        again = RunHandle(bus=second.bus, run_id=handle.run_id, pipeline=handle.pipeline)
        state = await again.wait(timeout=90)
    errors = {name: step.error for name, step in state.steps.items()}
    assert state.status is RunStatus.SUCCEEDED, errors
    assert state.steps["after"].parameters == {"output": "a!"}
    c = state.steps["gated-2"]
    assert c.attempt == 2, "the lost attempt was reported by the new controller and retried"
    created = [j["metadata"]["name"] for j in cluster.api.items("jobs", NAMESPACE)]
    assert len(created) == len(set(created)) == 4  # a, c (two attempts), after
    assert cluster.api.requests["POST jobs"] == 4, "a Job was created twice"
