"""The controller with step environments (fakes: MemoryBus, MemoryStore, an executor
that reports at once, environments the test finishes by hand): a launch waits for
its build in the outbox without stalling anything else, then launches with the
environment's interpreter and the freeze in its cache key; a failed build fails
the step with the installer's output as its log."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from runner.bus import MemoryBus
from runner.controller.controller import Controller
from runner.core import RunStatus, StepStatus
from runner.envs import EnvironmentFailedError, PreparedEnvironment, environment_cache_key
from runner.events import EventKind, RunRequested, make_event
from runner.records.pipelines import store_spec
from runner.step.request import StepRequest
from runner.store.keys import log_key
from runner.store.memory import MemoryStore
from tests.unit.bus.controller_harness import ReportingExecutor, run_state, running
from tests.unit.core.factories import component, spec, task
from tests.waiting import until

SPEC = spec(
    task("a", component="pkg"),
    task("b", component="pkg"),
    task("plain"),
    components=[component("pkg", packages=["tabulate>=0.9"])],
)
ENV = PreparedEnvironment(
    digest="e" * 64, requirements=["tabulate>=0.9"], freeze_digest="f" * 64,
    python="/home/envs/eee/bin/python",
)  # fmt: skip


class RecordingExecutor(ReportingExecutor):
    def __init__(self, bus: MemoryBus) -> None:
        super().__init__(bus)
        self.requests: dict[str, StepRequest] = {}

    async def launch(self, request: StepRequest) -> str:
        self.requests[request.step] = request
        return await super().launch(request)


class HandBuiltEnvironments:
    """One future per requirement set, finished by the test."""

    def __init__(self) -> None:
        self.builds: dict[tuple[str, ...], asyncio.Future[PreparedEnvironment]] = {}
        self.asked = 0

    def prepare(self, packages: Sequence[str]) -> asyncio.Future[PreparedEnvironment]:
        self.asked += 1
        key = tuple(packages)
        if key not in self.builds:
            self.builds[key] = asyncio.get_running_loop().create_future()
        return self.builds[key]

    async def aclose(self) -> None:
        for build in self.builds.values():
            build.cancel()


async def setup() -> tuple[MemoryBus, MemoryStore, RecordingExecutor, HandBuiltEnvironments,
                           Controller]:  # fmt: skip
    bus = MemoryBus()
    await bus.ensure_streams()
    store = MemoryStore()
    executor = RecordingExecutor(bus)
    envs = HandBuiltEnvironments()
    controller = Controller(bus=bus, store=store, executor=executor, reconcile_seconds=3600,
                            environments=envs)  # type: ignore[arg-type]  # fmt: skip
    spec_uri = await store_spec(store, SPEC)
    data = RunRequested(pipeline=SPEC.name, pipeline_digest=SPEC.digest(), spec_uri=spec_uri)
    await bus.publish(make_event(EventKind.RUN_REQUESTED, run_id="r1", pipeline=SPEC.name,
                                 data=data, time=datetime.now(UTC), component="api"))  # fmt: skip
    return bus, store, executor, envs, controller


async def step_status(controller: Controller, step: str) -> StepStatus | None:
    state = await run_state(controller, "r1")
    return state.steps[step].status if state is not None and step in state.steps else None


async def test_a_launch_waits_for_its_build_without_stalling_the_rest() -> None:
    _bus, _store, executor, envs, controller = await setup()
    async with running(controller):
        await until(lambda: "plain" in executor.requests, "the plain step's launch", timeout=10)

        async def plain_succeeded() -> bool:
            return await step_status(controller, "plain") is StepStatus.SUCCEEDED

        await until(plain_succeeded, "the plain step to succeed while the build runs", timeout=10)
        assert "a" not in executor.requests
        assert "b" not in executor.requests
        # Each launch asked once, though the run's outbox was flushed again and again.
        assert envs.asked == 2
        assert executor.requests["plain"].python is None
        state = await run_state(controller, "r1")
        assert state is not None
        assert {a.step for a in state.outbox} == {"a", "b"}, "the launches stay in the outbox"

        envs.builds[("tabulate>=0.9",)].set_result(ENV)

        async def succeeded() -> bool:
            state = await run_state(controller, "r1")
            return state is not None and state.status is RunStatus.SUCCEEDED

        await until(succeeded, "the run to succeed once the environment is built", timeout=10)
    state = await run_state(controller, "r1")
    assert state is not None
    for step in ("a", "b"):
        request = executor.requests[step]
        assert request.python == ENV.python
        declared = state.steps[step].cache_key
        assert declared is not None
        assert request.cache_key == environment_cache_key(declared, ENV.freeze_digest)
    assert executor.requests["plain"].cache_key == state.steps["plain"].cache_key


async def test_a_failed_build_fails_its_steps_with_the_installers_log() -> None:
    _bus, store, executor, envs, controller = await setup()
    async with running(controller):
        await until(lambda: envs.builds, "a build to be asked for", timeout=10)
        log_text = "$ uv pip install tabulate>=0.9\nerror: tabulate was not found\n"
        envs.builds[("tabulate>=0.9",)].set_exception(
            EnvironmentFailedError(["tabulate>=0.9"], "error: tabulate was not found", log_text)
        )

        async def ended() -> bool:
            state = await run_state(controller, "r1")
            return state is not None and state.status.terminal

        await until(ended, "the run to end", timeout=10)
    state = await run_state(controller, "r1")
    assert state is not None
    assert state.status is RunStatus.FAILED
    error = state.steps["a"].error
    assert error is not None
    assert error.reason == "EnvironmentFailed"
    assert "component 'pkg'" in error.message
    assert "tabulate was not found" in error.message
    assert "a" not in executor.requests, "no user code ran"
    log = await store.get_bytes(log_key("r1", "a", state.steps["a"].attempt))
    assert log.startswith(b"$ uv pip install")
