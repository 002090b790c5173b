"""Pods of components with ``packages``: the install entry point, uv's cache volume,
the lock in the environment; and the pod-side check that the image already has them."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from runner.config import EnvironmentSettings, KubernetesSettings
from runner.envs.locks import LOCK_ENV, decode_lock, encode_lock
from runner.envs.pod import lock_satisfied, pod_environment, requirements_satisfied
from runner.executors.kubernetes_manifest import (
    PACKAGES_COMMAND,
    PACKAGES_VOLUME,
    STEP_COMMAND,
    build_job,
)
from runner.step.request import StepRequest
from tests.unit.executors.k8s_versions import validate_all
from tests.unit.executors.requests import make_request

PYDANTIC = metadata.version("pydantic")


def with_packages(request: StepRequest, *packages: str) -> StepRequest:
    component = request.component.model_copy(update={"packages": list(packages)})
    return request.model_copy(update={"component": component})


def pod_of(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def env_of(job: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod_of(job)["containers"][0]["env"]}


def test_a_step_with_packages_installs_them_first_with_a_cache_volume() -> None:
    request = with_packages(make_request(env={LOCK_ENV: encode_lock("tabulate==0.9.0\n")}),
                            "tabulate")  # fmt: skip
    settings = KubernetesSettings()
    job = build_job(request, settings)
    pod = pod_of(job)
    container = pod["containers"][0]
    assert container["command"] == PACKAGES_COMMAND
    assert {"name": PACKAGES_VOLUME, "emptyDir": {}} in pod["volumes"]
    assert {"name": PACKAGES_VOLUME, "mountPath": settings.packages_cache_dir} in container[
        "volumeMounts"
    ]
    env = env_of(job)
    assert env["UV_CACHE_DIR"] == settings.packages_cache_dir
    assert decode_lock(env[LOCK_ENV]) == "tabulate==0.9.0\n"
    validate_all(job)


def test_the_cache_can_be_a_shared_volume_claim() -> None:
    settings = KubernetesSettings(packages_cache_pvc="uv-cache", packages_cache_dir="/cache/uv")
    job = build_job(with_packages(make_request(), "tabulate"), settings)
    pod = pod_of(job)
    assert {"name": PACKAGES_VOLUME, "persistentVolumeClaim": {"claimName": "uv-cache"}} in pod[
        "volumes"
    ]
    assert env_of(job)["UV_CACHE_DIR"] == "/cache/uv"
    validate_all(job)


def test_the_tasks_own_uv_cache_dir_wins() -> None:
    job = build_job(with_packages(make_request(env={"UV_CACHE_DIR": "/mine"}), "x"),
                    KubernetesSettings())  # fmt: skip
    names = [e["name"] for e in pod_of(job)["containers"][0]["env"]]
    assert names.count("UV_CACHE_DIR") == 1
    assert env_of(job)["UV_CACHE_DIR"] == "/mine"
    validate_all(job)


def test_steps_without_packages_and_container_steps_run_as_before() -> None:
    for request in (make_request(), with_packages(make_request(container=True), "x")):
        job = build_job(request, KubernetesSettings())
        pod = pod_of(job)
        assert [v["name"] for v in pod["volumes"]] == ["work"]
        if request.component.kind == "python":
            assert pod["containers"][0]["command"] == STEP_COMMAND
        validate_all(job)


def test_an_image_that_has_the_locked_versions_installs_nothing() -> None:
    assert lock_satisfied(f"pydantic=={PYDANTIC}\n")
    assert not lock_satisfied("pydantic==0.0.1\n")
    assert not lock_satisfied("nosuchpkg-xyz==1.0\n")
    assert not lock_satisfied("pkg @ https://example.invalid/pkg.whl\n")
    assert requirements_satisfied(["pydantic>=2", "PyYAML"])
    assert not requirements_satisfied(["pydantic<2"])
    assert requirements_satisfied(['nosuchpkg-xyz; python_version < "3"'])


async def test_the_pod_uses_the_image_when_it_has_the_packages(tmp_path: Path) -> None:
    python = await pod_environment(
        ["pydantic"], f"pydantic=={PYDANTIC}\n", tmp_path, EnvironmentSettings(offline=True)
    )
    assert python is None
    assert not (tmp_path / "runner-env").exists()
