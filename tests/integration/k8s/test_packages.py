"""``packages`` on a cluster (the fake one): the controller resolves a lock kept in the
store, the pod installs exactly it with uv before the step runs, and a pod that
cannot install it reports ``EnvironmentFailed`` before any user code ran."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runner.api import submit
from runner.config import EnvironmentSettings, KubernetesSettings, Settings
from runner.core import RunStatus, StepStatus
from runner.envs.locks import ClusterLocks, lock_key
from runner.envs.requirements import environment_digest, requirement_set
from runner.errors import ObjectNotFoundError
from runner.stack import Stack
from runner.store.keys import log_key
from tests.fixtures.wheels import make_wheel
from tests.integration.k8s.fake_kubelet import FakeCluster
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCE = """
from runner import component, pipeline


@component(packages=[{packages}])
def which() -> str:
    import runnertestpkg
    return runnertestpkg.VERSION


@pipeline
def pkgs():
    which()
"""


@pytest.fixture
async def k8s_stack(tmp_path: Path, k8s_settings: KubernetesSettings) -> AsyncIterator[Stack]:
    make_wheel(tmp_path / "wheels", "runnertestpkg", "1.0")
    make_wheel(tmp_path / "wheels", "runnertestpkg", "2.0")
    settings = Settings(
        home=tmp_path / "home",
        executor="kubernetes",
        kubernetes=k8s_settings,
        envs=EnvironmentSettings(find_links=[str(tmp_path / "wheels")], offline=True),
    )
    async with Stack(settings) as stack:
        yield stack


async def run(stack: Stack, loaded: Any) -> Any:
    handle = await submit(loaded.pipeline, {}, bus=stack.bus, store=stack.store,
                          source_root=loaded.source_root)  # fmt: skip
    return await handle.wait(timeout=120)


async def stored_log(stack: Stack, run_id: str) -> bytes:
    """The attempt's log, uploaded by the executor once it saw the pod end."""

    async def read() -> bytes | None:
        try:
            return await stack.store.get_bytes(log_key(run_id, "which", 1))
        except ObjectNotFoundError:
            return None

    return await until(read, "the attempt's log in the store", timeout=30)


def locks_of(stack: Stack) -> ClusterLocks:
    assert isinstance(stack.environments, ClusterLocks)
    return stack.environments


async def test_the_pod_installs_the_lock_the_controller_resolved(
    k8s_stack: Stack, cluster: FakeCluster, write_pipeline: Callable[[str, str], Any]
) -> None:
    first = await run(k8s_stack, write_pipeline(SOURCE.format(packages="'runnertestpkg'"), "pkgs"))
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert first.steps["which"].parameters["output"] == "2.0"
    locks = locks_of(k8s_stack)
    assert locks.resolved == 1
    digest = environment_digest(
        requirement_set(["runnertestpkg"]),
        k8s_stack.settings.envs,
        {"version": locks.python_version, "implementation": "cpython", "executable": ""},
    )
    assert (await k8s_stack.store.get_bytes(lock_key(digest))) == b"runnertestpkg==2.0\n"
    log = await stored_log(k8s_stack, first.run_id)
    assert b"installed in" in log

    pinned = await run(k8s_stack, write_pipeline(SOURCE.format(packages="'runnertestpkg<2'"),
                                                 "pkgs"))  # fmt: skip
    assert pinned.steps["which"].parameters["output"] == "1.0"


async def test_a_lock_the_pod_cannot_install_fails_the_step_with_the_installers_words(
    k8s_stack: Stack, cluster: FakeCluster, write_pipeline: Callable[[str, str], Any]
) -> None:
    locks = locks_of(k8s_stack)
    requirements = requirement_set(["runnertestpkg"])
    digest = environment_digest(
        requirements,
        k8s_stack.settings.envs,
        {"version": locks.python_version, "implementation": "cpython", "executable": ""},
    )
    # A lock in the store naming a version the pods cannot get (pruned from the index).
    await k8s_stack.store.put_bytes(lock_key(digest), b"runnertestpkg==9.9\n")
    result = await run(k8s_stack, write_pipeline(SOURCE.format(packages="'runnertestpkg'"),
                                                 "pkgs"))  # fmt: skip
    assert result.status is RunStatus.FAILED
    step = result.steps["which"]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.reason == "EnvironmentFailed", step.error
    assert "component 'which'" in step.error.message
    assert "runnertestpkg" in step.error.message
    assert "9.9" in step.error.message
    log = await stored_log(k8s_stack, result.run_id)
    assert b"uv pip install" in log


async def test_an_unresolvable_set_fails_at_the_controller_without_a_pod(
    k8s_stack: Stack, cluster: FakeCluster, write_pipeline: Callable[[str, str], Any]
) -> None:
    result = await run(k8s_stack, write_pipeline(SOURCE.format(packages="'nosuchpkg-xyz'"),
                                                 "pkgs"))  # fmt: skip
    step = result.steps["which"]
    assert step.error is not None
    assert step.error.reason == "EnvironmentFailed"
    assert "nosuchpkg-xyz was not found" in step.error.message
    assert cluster.started_processes == 0
