"""Step requests for executor tests, built from spec models (no pipeline needed)."""

from __future__ import annotations

from typing import Any

from runner.spec.models import (
    ComponentSpec,
    ContainerCommand,
    KubernetesOptions,
    Resources,
    TaskSpec,
    Toleration,
)
from runner.step.request import StepRequest


def make_request(
    *,
    run_id: str = "demo-20250101-120000-abc123",
    step: str = "train",
    attempt: int = 1,
    gpu: int = 0,
    cpu: str | None = None,
    memory: str | None = None,
    accelerator: str | None = None,
    timeout: float | None = None,
    image: str | None = None,
    container: bool = False,
    node_selector: dict[str, str] | None = None,
    tolerations: list[Toleration] | None = None,
    env: dict[str, str] | None = None,
    **extra: Any,
) -> StepRequest:
    component = ComponentSpec(
        name="train",
        kind="container" if container else "python",
        digest="0" * 64,
        entrypoint=None if container else "pipe:train",
        container=ContainerCommand(image="busybox:1.36", command=["sh", "-c", "true"])
        if container
        else None,
        image=image,
    )
    task = TaskSpec(
        name=step.split("[")[0],
        component="train",
        resources=Resources(cpu=cpu, memory=memory, gpu=gpu, accelerator=accelerator),
        timeout_seconds=timeout,
        env=env or {},
        kubernetes=KubernetesOptions(
            node_selector=node_selector or {}, tolerations=tolerations or []
        ),
    )
    return StepRequest(
        run_id=run_id,
        pipeline="demo",
        step=step,
        attempt=attempt,
        task=task,
        component=component,
        store_uri="s3://bucket/runner",
        nats_url="nats://nats.runner.svc:4222",
        env={"AWS_ENDPOINT_URL_S3": "http://minio.runner.svc:9000"},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        **extra,
    )
