"""The demo pipeline with ``executor=kubernetes``: real NATS, S3 (moto), every
step a Job run by the fake kubelet; credentials only through a Secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.api import submit
from runner.config import KubernetesSettings, Settings, StoreSettings
from runner.core import RunStatus
from runner.dsl.loader import load_pipeline
from runner.stack import Stack
from tests.fixtures.s3 import S3Server
from tests.integration.k8s.fake_kubelet import NAMESPACE, FakeCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[3] / "functions" / "demo.py"
STEPS = {"ingest", "validate", "split", "preprocess", "train", "evaluate", "register"}


@pytest.fixture
async def s3_k8s_stack(
    tmp_path: Path,
    k8s_settings: KubernetesSettings,
    cluster: FakeCluster,
    s3_server: S3Server,
    s3_settings: StoreSettings,
    s3_store_uri: str,
) -> AsyncIterator[Stack]:
    cluster.add_secret(
        "runner-credentials",
        {
            "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
        },
    )
    settings = Settings(
        home=tmp_path / "home",
        executor="kubernetes",
        storage=s3_settings.model_copy(update={"uri": s3_store_uri}),
        kubernetes=k8s_settings.model_copy(update={"credentials_secret": "runner-credentials"}),
    )
    async with Stack(settings) as stack:
        yield stack


async def test_the_demo_runs_as_jobs_with_a_gpu_request(
    s3_k8s_stack: Stack, cluster: FakeCluster, s3_server: S3Server
) -> None:
    loaded = load_pipeline(f"{DEMO}:demo")
    handle = await submit(
        loaded.pipeline, {}, bus=s3_k8s_stack.bus, store=s3_k8s_stack.store,
        source_root=loaded.source_root,
    )  # fmt: skip
    state = await handle.wait(timeout=240)
    errors = {name: step.error for name, step in state.steps.items() if step.error}
    assert state.status is RunStatus.SUCCEEDED, errors
    assert set(state.steps) == STEPS
    assert state.steps["evaluate"].outputs, "the evaluation wrote its metrics"

    jobs = {
        j["metadata"]["annotations"]["runner.io/step"]: j
        for j in cluster.api.items("jobs", NAMESPACE)
    }
    assert set(jobs) == STEPS
    assert cluster.api.requests["POST jobs"] == len(STEPS)
    train = jobs["train"]["spec"]["template"]["spec"]
    assert train["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in train[
        "tolerations"
    ]
    pods = {
        p["metadata"]["labels"]["runner.io/step"]: p for p in cluster.api.items("pods", NAMESPACE)
    }
    assert pods["train"]["spec"]["nodeName"] == "gpu-node"
    for job in jobs.values():
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == [{"secretRef": {"name": "runner-credentials"}}]
        text = str(job)
        assert s3_server.secret_access_key not in text, "a credential was written into a Job"
        assert s3_server.access_key_id not in text
