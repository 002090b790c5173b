"""``@component(packages=...)`` on the embedded stack: real nats-server, controller,
local step processes and file store, installing tiny wheels offline with uv."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runner.api import submit
from runner.config import EnvironmentSettings, Settings
from runner.core import RunStatus, StepStatus
from runner.envs import EnvironmentManager, environment_cache_key, layout
from runner.stack import Stack
from runner.store.keys import log_key
from runner.store.manifests import read_manifest
from tests.fixtures.wheels import make_wheel
from tests.integration.runtime.conftest import write_pipeline

pytestmark = pytest.mark.integration
__all__ = ["write_pipeline"]  # the runtime suite's fixture, shared

SOURCE = """
from runner import component, pipeline


@component(packages=[{packages}])
def which() -> str:
    import runnertestpkg
    return runnertestpkg.VERSION


@component(packages=[{packages}])
def again() -> str:
    import runnertestpkg
    return "again " + runnertestpkg.VERSION


@pipeline
def pkgs():
    which()
    again()
"""


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    directory = tmp_path / "wheels"
    make_wheel(directory, "runnertestpkg", "1.0")
    return directory


@pytest.fixture
async def stack(tmp_path: Path, wheels: Path) -> AsyncIterator[Stack]:
    settings = Settings(
        home=tmp_path / "home", envs=EnvironmentSettings(find_links=[str(wheels)], offline=True)
    )
    async with Stack(settings) as local:
        yield local


def manager_of(stack: Stack) -> EnvironmentManager:
    assert isinstance(stack.environments, EnvironmentManager)
    return stack.environments


async def run(stack: Stack, loaded: Any, *, no_cache: bool = False) -> Any:
    handle = await submit(
        loaded.pipeline, {}, bus=stack.bus, store=stack.store, no_cache=no_cache,
        source_root=loaded.source_root,
    )  # fmt: skip
    return await handle.wait(timeout=120)


def source(*packages: str) -> str:
    return SOURCE.format(packages=", ".join(repr(p) for p in packages))


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_", "NATS_"))}
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args, "--home", str(home)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


async def test_steps_import_their_packages_and_share_one_build(
    stack: Stack, write_pipeline: Callable[[str, str], Any]
) -> None:
    first = await run(stack, write_pipeline(source("runnertestpkg==1.0"), "pkgs"))
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert first.steps["which"].parameters["output"] == "1.0"
    assert first.steps["again"].parameters["output"] == "again 1.0"
    assert manager_of(stack).builds == 1, "two steps wanting one set build it once"

    second = await run(stack, write_pipeline(source("runnertestpkg==1.0"), "pkgs"), no_cache=True)
    assert second.status is RunStatus.SUCCEEDED, second.error
    assert {s.status for s in second.steps.values()} == {StepStatus.SUCCEEDED}
    assert manager_of(stack).builds == 1, "a second run pays no install"


async def test_the_resolved_versions_are_in_the_cache_key(
    stack: Stack, write_pipeline: Callable[[str, str], Any], wheels: Path
) -> None:
    loaded = write_pipeline(source("runnertestpkg"), "pkgs")
    first = await run(stack, loaded)
    assert first.steps["which"].parameters["output"] == "1.0"
    again = await run(stack, loaded)
    assert again.steps["which"].status is StepStatus.CACHED

    # The manifest lives under the key with the environment's freeze in it.
    manager = manager_of(stack)
    prepared = manager.prepare(["runnertestpkg"])
    assert not isinstance(prepared, asyncio.Future)
    declared = first.steps["which"].cache_key
    effective = environment_cache_key(declared, prepared.freeze_digest)
    assert await read_manifest(stack.store, effective) is not None
    assert await read_manifest(stack.store, declared) is None

    # 2.0 is published and the environment rebuilt: same declaration, another resolution.
    make_wheel(wheels, "runnertestpkg", "2.0")
    layout.remove_dir(layout.env_dir(manager.home, prepared.digest))
    upgraded = await run(stack, loaded)
    assert upgraded.steps["which"].status is StepStatus.SUCCEEDED, "an upgrade is a miss"
    assert upgraded.steps["which"].parameters["output"] == "2.0"

    pinned = await run(stack, write_pipeline(source("runnertestpkg==1.0"), "pkgs"))
    assert pinned.steps["which"].status is StepStatus.SUCCEEDED
    assert pinned.steps["which"].parameters["output"] == "1.0"


async def test_an_unknown_requirement_fails_the_step_before_user_code_runs(
    stack: Stack, write_pipeline: Callable[[str, str], Any], tmp_path: Path
) -> None:
    result = await run(stack, write_pipeline(source("nosuchpkg-xyz>=1"), "pkgs"))
    assert result.status is RunStatus.FAILED
    step = result.steps["which"]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.reason == "EnvironmentFailed"
    assert "component 'which'" in step.error.message
    assert "nosuchpkg-xyz was not found" in step.error.message, step.error.message
    assert stack.executor is not None
    assert stack.executor.launched == 0, "no step process was started"
    log = await stack.store.get_bytes(log_key(result.run_id, "which", step.attempt))
    assert b"uv pip install" in log
    assert b"nosuchpkg-xyz was not found" in log
    assert not any(e.record for e in layout.list_environments(tmp_path / "home"))

    status = await asyncio.to_thread(cli, tmp_path / "home", "status", result.run_id)
    assert "EnvironmentFailed" in status.stdout + status.stderr, status
    logs = await asyncio.to_thread(cli, tmp_path / "home", "logs", result.run_id, "which")
    assert logs.returncode == 0, logs
    assert "nosuchpkg-xyz was not found" in logs.stdout


async def test_a_failed_build_is_tried_again_by_the_next_run(
    stack: Stack, write_pipeline: Callable[[str, str], Any], wheels: Path
) -> None:
    loaded = write_pipeline(source("laterpkg", "runnertestpkg"), "pkgs")
    failed = await run(stack, loaded)
    assert failed.steps["which"].error.reason == "EnvironmentFailed"
    make_wheel(wheels, "laterpkg", "0.1")
    fixed = await run(stack, loaded)
    assert fixed.status is RunStatus.SUCCEEDED, fixed.error
    assert manager_of(stack).builds == 1
