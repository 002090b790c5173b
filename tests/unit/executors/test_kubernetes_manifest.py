"""The Job the Kubernetes executor builds for a step attempt (pure, no cluster)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from runner.config import KubernetesSettings
from runner.errors import ExecutorError
from runner.executors.kubernetes_manifest import (
    REPORT_DIR,
    REPORT_PATH,
    attempt_of,
    build_job,
    job_name,
    label_value,
)
from runner.spec.models import Toleration
from runner.step.request import REQUEST_ENV, StepRequest
from tests.unit.executors.k8s_versions import MISSING, VERSIONS, validate_all
from tests.unit.executors.requests import make_request

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SETTINGS = KubernetesSettings(
    accelerator_node_selectors={"nvidia-h100": {"nvidia.com/gpu.product": "NVIDIA-H100"}},
    accelerator_tolerations={"nvidia-h100": [Toleration(key="dedicated", value="h100")]},
    credentials_secret="runner-credentials",
    config_map="runner-config",
    image_pull_secrets=["regcred"],
    service_account="runner-step",
)


def container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


def env_of(job: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(job)["env"]}


def test_versions_cover_1_31_to_1_37() -> None:
    assert VERSIONS, "kubernetes-validate has no schema between 1.31 and 1.37"
    assert MISSING == [], f"kubernetes-validate lacks schemas for {MISSING}"


@pytest.mark.parametrize(
    ("run_id", "step", "attempt"),
    [
        ("demo-20250101-120000-abc123", "train", 1),
        ("demo-20250101-120000-abc123", "train[3]", 2),
        ("a" * 60, "b" * 60, 12),
        ("r", "s" * 63, 1),
        ("demo-20250101-120000-abc123", "fan[key=a.b,c_d]", 1),
    ],
)
def test_job_names_are_dns_labels_within_63_characters(
    run_id: str, step: str, attempt: int
) -> None:
    name = job_name(run_id, step, attempt)
    assert len(name) <= 63
    assert DNS_LABEL.match(name), name
    assert name == job_name(run_id, step, attempt), "names are deterministic"


def test_plain_names_stay_readable_and_distinct_attempts_get_distinct_names() -> None:
    assert job_name("demo-r1", "train", 1) == "demo-r1-train-1"
    names = {
        job_name(run, step, attempt)
        for run in ("x" * 50, "x" * 49 + "y")
        for step in ("train[1]", "train[2]", "t" * 40, "t" * 39 + "u")
        for attempt in (1, 2)
    }
    assert len(names) == 16


@pytest.mark.parametrize("value", ["ok-1", "train[3]", "-x-", "a" * 80, "[]"])
def test_label_values_are_valid(value: str) -> None:
    assert re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", label_value(value))
    assert len(label_value(value)) <= 63


def test_gpu_step_job() -> None:
    request = make_request(
        gpu=1, cpu="2", memory="4Gi", accelerator="nvidia-h100", timeout=3600.5,
        node_selector={"pool": "training"},
        tolerations=[Toleration(key="spot", operator="Exists", effect="NoSchedule")],
    )  # fmt: skip
    job = build_job(request, SETTINGS)
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 3601)
    assert spec["ttlSecondsAfterFinished"] == 3600
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100", "pool": "training"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "h100"},
        {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
    ]
    assert container(job)["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
    }
    assert pod["serviceAccountName"] == "runner-step"
    assert pod["automountServiceAccountToken"] is False
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    labels = job["metadata"]["labels"]
    assert labels["runner.io/run"] == request.run_id
    assert (labels["runner.io/step"], labels["runner.io/attempt"]) == ("train", "1")
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    validate_all(job)


def test_the_gpu_resource_name_is_configurable() -> None:
    settings = KubernetesSettings(gpu_resource_name="amd.com/gpu", gpu_tolerations=[])
    job = build_job(make_request(gpu=2), settings)
    assert container(job)["resources"]["limits"] == {"amd.com/gpu": "2"}
    assert "tolerations" not in job["spec"]["template"]["spec"]
    validate_all(job)


def test_cpu_step_gets_default_requests_and_no_gpu_placement() -> None:
    job = build_job(make_request(), KubernetesSettings())
    pod = job["spec"]["template"]["spec"]
    assert container(job)["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}}
    assert "nodeSelector" not in pod
    assert "tolerations" not in pod
    assert "activeDeadlineSeconds" not in job["spec"]
    assert container(job)["image"] == "runner:latest"
    validate_all(job)


def test_images_task_override_then_component_then_runner_image() -> None:
    settings = KubernetesSettings(image="registry.example/runner:1")
    assert container(build_job(make_request(), settings))["image"] == "registry.example/runner:1"
    assert container(build_job(make_request(image="mine:2"), settings))["image"] == "mine:2"
    contained = build_job(make_request(container=True), settings)
    assert container(contained)["image"] == "busybox:1.36"
    validate_all(contained)


def test_the_pod_runs_the_step_with_its_request_and_no_credentials() -> None:
    request = make_request(env={"OMP_NUM_THREADS": "2"})
    job = build_job(request, SETTINGS)
    c = container(job)
    assert c["command"] == ["python", "-m", "runner.step"]
    assert c["terminationMessagePath"] == REPORT_PATH
    env = env_of(job)
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["NATS_URL"] == request.nats_url
    assert env["RUNNER_STORE"] == request.store_uri
    assert env["AWS_ENDPOINT_URL_S3"] == "http://minio.runner.svc:9000"
    assert env["TRACEPARENT"] == request.traceparent
    sent = StepRequest.from_env_value(env[REQUEST_ENV])
    assert sent == request.model_copy(update={"state_dir": REPORT_DIR})
    assert c["envFrom"] == [
        {"configMapRef": {"name": "runner-config"}},
        {"secretRef": {"name": "runner-credentials"}},
    ]
    for item in c["env"]:
        assert set(item) == {"name", "value"}
        assert not re.search(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY", item["name"]), item["name"]
    decoded = json.loads(base64.b64decode(env[REQUEST_ENV]))
    assert "password" not in json.dumps(decoded).lower()


def test_annotations_identify_the_attempt_exactly() -> None:
    request = make_request(step="train[7]", attempt=3)
    ref = attempt_of(build_job(request, SETTINGS))
    assert ref is not None
    assert (ref.run_id, ref.pipeline, ref.step, ref.attempt) == (
        request.run_id,
        "demo",
        "train[7]",
        3,
    )
    assert ref.traceparent == request.traceparent
    assert attempt_of({"metadata": {"annotations": {"runner.io/run": "x"}}}) is None
    assert attempt_of({"metadata": {}}) is None


def test_an_accelerator_without_a_node_selector_is_refused_with_the_fix() -> None:
    with pytest.raises(ExecutorError, match="RUNNER_K8S_ACCELERATOR_NODE_SELECTORS"):
        build_job(make_request(gpu=1, accelerator="nvidia-b200"), SETTINGS)
    labelled = KubernetesSettings(accelerator_label="cloud.google.com/gke-accelerator")
    job = build_job(make_request(gpu=1, accelerator="nvidia-l4"), labelled)
    selector = job["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}


def test_the_validator_rejects_a_broken_job() -> None:
    """The validation used above can fail: a Job with a typo'd field does."""
    job = build_job(make_request(), SETTINGS)
    job["spec"]["template"]["spec"]["restartPolicyy"] = "Never"
    with pytest.raises(AssertionError, match="restartPolicyy"):
        validate_all(job)
