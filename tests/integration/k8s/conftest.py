"""Fixtures: a fake cluster on 127.0.0.1 and Kubernetes settings pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.bus import EmbeddedNats
from runner.config import KubernetesSettings
from runner.events.envelope import Event
from tests.integration.k8s.fake_kubelet import NAMESPACE, FakeCluster, Node
from tests.integration.runtime.conftest import write_pipeline

__all__ = ["write_pipeline"]  # the runtime suite's fixture, shared

GPU_NODE = Node(
    name="gpu-node",
    labels={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
    capacity={"nvidia.com/gpu": 1},
    taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
)
CPU_NODE = Node(name="cpu-node")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[FakeCluster]:
    fake = FakeCluster(tmp_path / "cluster", nodes=[CPU_NODE, GPU_NODE])
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    """A nats-server the test owns, outliving any controller it starts."""
    server = EmbeddedNats(tmp_path / "nats")
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


@pytest.fixture
def k8s_settings(cluster: FakeCluster, tmp_path: Path) -> KubernetesSettings:
    return KubernetesSettings(
        namespace=NAMESPACE,
        in_cluster=False,
        kubeconfig=cluster.kubeconfig(tmp_path / "kubeconfig"),
        accelerator_node_selectors={
            "nvidia-h100": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
        },
        pending_timeout_seconds=1.0,
        image_pull_grace_seconds=1.0,
    )


class Published:
    """A recording ``publish``: the events an executor reported."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
