"""Every manifest under ``k8s/`` (the base and the GPU overlay, rendered the way
kustomize does for the features they use) passes strict validation, and the
pieces fit: RBAC grants what the executor calls, the ConfigMaps parse as
settings, no credential is inline outside the Secret template."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.config import KubernetesSettings
from tests.unit.executors.k8s_versions import validate_all

K8S = Path(__file__).resolve().parents[3] / "k8s"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[dict[str, Any]]:
    """Resources, namespace, ``labels`` and strategic-merge ``patches`` by path."""
    kustomization = load(directory / "kustomization.yaml")[0]
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        target = (directory / resource).resolve()
        objects += render(target) if target.is_dir() else load(target)
    objects = copy.deepcopy(objects)
    for patch_ref in kustomization.get("patches", []):
        for patch in load(directory / patch_ref["path"]):
            merge(find(objects, patch["kind"], patch["metadata"]["name"]), patch)
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if "namespace" in kustomization and obj["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = kustomization["namespace"]
        for entry in kustomization.get("labels", []):
            meta.setdefault("labels", {}).update(entry["pairs"])
    return objects


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


BASE = render(K8S)
GPU = render(K8S / "overlays" / "gpu")


@pytest.mark.parametrize("obj", BASE + GPU, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_manifest_validates_strictly(obj: dict[str, Any]) -> None:
    validate_all(obj)


def test_the_base_has_every_part() -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in BASE}
    for part in [
        ("Namespace", "runner"), ("StatefulSet", "nats"), ("StatefulSet", "minio"),
        ("Job", "minio-setup"), ("Deployment", "jaeger"), ("Deployment", "runner-controller"),
        ("ServiceAccount", "runner-controller"), ("Role", "runner-controller"),
        ("RoleBinding", "runner-controller"), ("Secret", "runner-credentials"),
        ("ConfigMap", "runner-config"),
    ]:  # fmt: skip
        assert part in kinds
    assert all(o["metadata"].get("namespace") == "runner" for o in BASE if o["kind"] != "Namespace")


def test_the_role_grants_exactly_what_the_controller_needs() -> None:
    rules = {
        (rule["apiGroups"][0], resource): sorted(rule["verbs"])
        for rule in find(BASE, "Role", "runner-controller")["rules"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("batch", "jobs"): sorted(["create", "get", "list", "watch", "delete"]),
        ("", "pods"): sorted(["get", "list", "watch"]),
        ("", "pods/log"): ["get"],
    }


def test_the_controller_deployment_is_probed_bounded_and_graceful() -> None:
    spec = find(BASE, "Deployment", "runner-controller")["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "runner-controller"
    assert spec["terminationGracePeriodSeconds"] >= 30
    container = spec["containers"][0]
    assert container["command"][:2] == ["runner", "controller"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]


def test_jetstream_is_on_a_persistent_volume() -> None:
    nats = find(BASE, "StatefulSet", "nats")["spec"]
    assert nats["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    conf = find(BASE, "ConfigMap", "nats-config")["data"]["nats.conf"]
    assert "store_dir: /data" in conf


@pytest.mark.parametrize("rendered", [BASE, GPU], ids=["base", "gpu"])
def test_the_settings_configmap_parses_as_settings(
    rendered: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = find(rendered, "ConfigMap", "runner-config")["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = KubernetesSettings()
    assert settings.namespace == "runner"
    assert settings.credentials_secret == "runner-credentials"
    if rendered is GPU:
        assert settings.accelerator_node_selectors["nvidia-h100"] == {
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"
        }
        assert settings.accelerator_tolerations["nvidia-h100"][0].key == "dedicated"


def test_no_credential_is_inline_outside_the_secret_template() -> None:
    for obj in BASE + GPU:
        if obj["kind"] == "Secret":
            continue
        text = json.dumps(obj)
        assert "change-me" not in text, f"{obj['kind']}/{obj['metadata']['name']}"
        assert 'SECRET_ACCESS_KEY": "' not in text


def test_the_image_is_slim_and_runs_as_a_non_root_user() -> None:
    dockerfile = (K8S.parent / "Dockerfile").read_text()
    final = dockerfile.split("\nFROM ")[-1]
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert "USER 10001" in final
    for tool in ("gcc", "build-essential", "pip install"):
        assert tool not in final, f"{tool} in the final stage"
    controller = find(BASE, "Deployment", "runner-controller")["spec"]["template"]["spec"]
    assert controller["securityContext"]["runAsUser"] == 10001
    data = find(BASE, "ConfigMap", "runner-config")["data"]
    assert controller["containers"][0]["image"] == data["RUNNER_K8S_IMAGE"]
