"""A build in progress never stalls the controller: other runs go on meanwhile, and
the waiting launch is performed when its environment is ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from runner.api import submit
from runner.config import EnvironmentSettings, Settings
from runner.core import RunStatus, StepStatus
from runner.envs import EnvironmentManager, PreparedEnvironment
from runner.stack import Stack
from tests.fixtures.wheels import make_wheel
from tests.integration.runtime.conftest import write_pipeline
from tests.waiting import until

pytestmark = pytest.mark.integration
__all__ = ["write_pipeline"]

WITH_PACKAGES = """
from runner import component, pipeline


@component(packages=["runnertestpkg"])
def which() -> str:
    import runnertestpkg
    return runnertestpkg.VERSION


@pipeline
def slow():
    which()
"""

PLAIN = """
from runner import component, pipeline


@component
def hello() -> str:
    return "hello"


@pipeline
def quick():
    hello()
"""


class GatedEnvironments:
    """The real manager, whose builds wait for :attr:`gate` first."""

    def __init__(self, real: EnvironmentManager) -> None:
        self.real = real
        self.gate = asyncio.Event()
        self.asked = 0
        self._tasks: list[asyncio.Task[PreparedEnvironment]] = []

    def prepare(
        self, packages: Sequence[str]
    ) -> PreparedEnvironment | asyncio.Task[PreparedEnvironment]:
        self.asked += 1

        async def gated() -> PreparedEnvironment:
            await self.gate.wait()
            got = self.real.prepare(packages)
            return await got if isinstance(got, asyncio.Future) else got

        task = asyncio.create_task(gated(), name="gated-build")
        self._tasks.append(task)
        return task

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.real.aclose()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    make_wheel(tmp_path / "wheels", "runnertestpkg", "1.0")
    envs = EnvironmentSettings(find_links=[str(tmp_path / "wheels")], offline=True)
    async with Stack(Settings(home=tmp_path / "home", envs=envs)) as local:
        yield local


async def test_other_runs_proceed_while_an_environment_builds(
    stack: Stack, write_pipeline: Callable[[str, str], Any]
) -> None:
    assert stack.controller is not None
    assert isinstance(stack.environments, EnvironmentManager)
    gated = GatedEnvironments(stack.environments)
    stack.controller.effects.environments = gated
    stack.environments = gated  # closed with the stack

    slow = write_pipeline(WITH_PACKAGES, "slow")
    waiting = await submit(slow.pipeline, {}, bus=stack.bus, store=stack.store,
                           source_root=slow.source_root)  # fmt: skip
    await until(lambda: gated.asked >= 1, "the launch to ask for its environment", timeout=30)

    quick = write_pipeline(PLAIN, "quick")
    other = await submit(quick.pipeline, {}, bus=stack.bus, store=stack.store,
                         source_root=quick.source_root)  # fmt: skip
    done = await other.wait(timeout=60)
    assert done.status is RunStatus.SUCCEEDED, done.error

    state = await waiting.state()
    assert state is not None
    assert state.steps["which"].status is StepStatus.LAUNCHING, "still waiting for its build"
    assert any(a.step == "which" for a in state.outbox), "the launch stays in the outbox"

    gated.gate.set()
    finished = await waiting.wait(timeout=60)
    assert finished.status is RunStatus.SUCCEEDED, finished.error
    assert finished.steps["which"].parameters["output"] == "1.0"
