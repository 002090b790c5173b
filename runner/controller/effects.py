"""Performing the actions ``decide`` returned: the only place effects happen.

Every effect is idempotent, so performing an action twice (a redelivered
event, a restarted or second controller) changes nothing: events carry
deterministic ids (JetStream drops duplicates) and executors adopt an
attempt that is already running.

A launch of a component with ``packages`` first needs its environment
(:mod:`runner.envs`): while that is being built :meth:`Effects.perform`
returns the build task instead of waiting, and the controller performs the
action again when it is done. The environment's exact versions go into the
step's cache key before the lookup.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from runner.bus.base import Bus
from runner.core import Action, LaunchStep, Plan, PublishEvent, RunState, StopStep
from runner.envs import (
    EnvironmentFailedError,
    PreparedEnvironment,
    StepEnvironments,
    environment_cache_key,
)
from runner.events.auth import ReportKeys
from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, StepCached, StepFailed, StepLaunched
from runner.executors.base import AttemptInfo, Executor
from runner.privacy import redact_url
from runner.spec.models import ComponentSpec
from runner.step.request import StepRequest
from runner.store.base import ArtifactStore
from runner.store.keys import log_key
from runner.store.manifests import lookup
from runner.telemetry.ids import attempt_trace
from runner.telemetry.tracer import RunTracer

log = logging.getLogger(__name__)

ENVIRONMENT_FAILED = "EnvironmentFailed"
Pending = asyncio.Future[Any]
"""What :meth:`Effects.perform` returns for an action it could not perform yet."""


class Effects:
    """Turns actions into messages, cache lookups, launches and stops."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: ArtifactStore,
        executor: Executor,
        step_nats_url: str | None,
        step_env: dict[str, str] | None = None,
        tracing: RunTracer | None = None,
        keys: ReportKeys | None = None,
        environments: StepEnvironments | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.executor = executor
        # Steps get the URL without credentials (requests are written down);
        # the executor hands them the credentials through their environment.
        self.step_nats_url = redact_url(step_nats_url) if step_nats_url else None
        self.step_env = dict(step_env or {})
        self.tracing = tracing or RunTracer()
        self.keys = keys
        """Signs what the controller says about steps (verified when it comes back)."""
        self.environments = environments
        """Builds the environments of components with ``packages``; None installs nothing."""
        self.cache_hits = 0
        self.launches = 0
        self._building: dict[str, asyncio.Task[PreparedEnvironment]] = {}
        """Launch action id -> the build its environment waits for."""

    async def perform(self, action: Action, state: RunState, plan: Plan | None) -> Pending | None:
        """Perform ``action``; a launch needs the run's ``plan``. Returns None when
        done, or a future to wait for before performing it again (its
        environment is being built)."""
        if isinstance(action, PublishEvent):
            await self.publish(action.event)
        elif isinstance(action, LaunchStep):
            assert plan is not None, "a launch needs the run's plan"
            return await self._launch(action, state, plan)
        elif isinstance(action, StopStep):
            await self.executor.stop(
                AttemptInfo(run_id=action.run_id, pipeline=action.pipeline, step=action.step,
                            attempt=action.attempt, launch_id=action.launch_id)
            )  # fmt: skip
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown action {action!r}")
        return None

    async def _launch(self, action: LaunchStep, state: RunState, plan: Plan) -> Pending | None:
        component = plan.component_of(action.task)
        environment = self._environment(action, component)
        if isinstance(environment, asyncio.Future):
            return environment
        # The attempt's span starts now; every event about the attempt says so.
        trace = attempt_trace(state, action.step, action.attempt, datetime.now(UTC))
        if isinstance(environment, EnvironmentFailedError):
            await self._environment_failed(action, component, environment, trace)
            return None
        cache_key = action.cache_key
        if cache_key and environment is not None:
            cache_key = environment_cache_key(cache_key, environment.freeze_digest)
        if cache_key:
            with self.tracing.work("cache lookup", state, action.step):
                hit = await self._publish_cache_hit(action, cache_key, trace)
            if hit:
                return None
        task = plan.task(action.task)
        step_env = self.step_env
        if environment is not None and environment.step_env:
            step_env = {**step_env, **environment.step_env}
        request = StepRequest(
            run_id=action.run_id,
            pipeline=action.pipeline,
            step=action.step,
            attempt=action.attempt,
            task=task,
            component=component,
            parameters=action.parameters,
            artifacts=action.artifacts,
            code=state.code,
            store_uri=self.store.uri,
            nats_url=self.step_nats_url,
            env=step_env,
            cache_key=cache_key,
            traceparent=trace[0],
            tracestate=trace[1],
            python=environment.python if environment is not None else None,
            environment=environment.freeze_digest if environment is not None else None,
        )
        try:
            with self.tracing.work("launch", state, action.step):
                launch_id = await self.executor.launch(request)
        except Exception as exc:  # a launch failure is the step's failure, not ours
            log.warning("launch of %s/%s failed", action.run_id, action.step, exc_info=True)
            await self._publish_step_event(
                action,
                trace,
                EventKind.STEP_FAILED,
                StepFailed(
                    attempt=action.attempt,
                    error=ErrorInfo(
                        reason="LaunchFailed",
                        message=f"{self.executor.name} executor could not launch step "
                        f"'{action.step}': {exc}",
                        step=action.step,
                    ),
                ),
            )
            return None
        self.launches += 1
        await self._publish_step_event(
            action,
            trace,
            EventKind.STEP_LAUNCHED,
            StepLaunched(
                attempt=action.attempt,
                executor=self.executor.name,
                launch_id=launch_id,
                cache_key=cache_key,  # what the attempt writes its manifest under
            ),
        )
        return None

    def _environment(
        self, action: LaunchStep, component: ComponentSpec
    ) -> PreparedEnvironment | EnvironmentFailedError | Pending | None:
        """The step's environment, the build still running, or why it failed.
        None: the step runs in the executor's own environment."""
        if self.environments is None or not component.packages or component.kind != "python":
            return None
        build = self._building.pop(action.id, None)
        if build is None or build.cancelled():
            prepared = self.environments.prepare(component.packages)
            if not isinstance(prepared, asyncio.Future):
                return prepared
            build = prepared
        if not build.done():
            self._building[action.id] = build
            return build
        error = build.exception()
        if error is None:
            return build.result()
        if isinstance(error, EnvironmentFailedError):
            return error
        log.error("building the environment of %s failed", action.step, exc_info=error)
        return EnvironmentFailedError(component.packages, f"{type(error).__name__}: {error}",
                                      f"{type(error).__name__}: {error}\n")  # fmt: skip

    async def _environment_failed(
        self,
        action: LaunchStep,
        component: ComponentSpec,
        error: EnvironmentFailedError,
        trace: tuple[str, str],
    ) -> None:
        """Fail the attempt before any user code ran; the installer's output is its log."""
        try:
            key = log_key(action.run_id, action.step, action.attempt)
            await self.store.put_bytes(key, error.log.encode(), content_type="text/plain")
        except Exception:  # the failure still gets reported, without its log
            log.warning("could not upload the installer's log of %s/%s", action.run_id,
                        action.step, exc_info=True)  # fmt: skip
        info = ErrorInfo(
            reason=ENVIRONMENT_FAILED, message=error.describe(component.name), step=action.step
        )
        data = StepFailed(attempt=action.attempt, error=info)
        await self._publish_step_event(action, trace, EventKind.STEP_FAILED, data)

    async def _publish_cache_hit(
        self, action: LaunchStep, cache_key: str, trace: tuple[str, str]
    ) -> bool:
        manifest = await lookup(self.store, cache_key)
        if manifest is None:
            return False
        self.cache_hits += 1
        data = StepCached(
            # The key the run state asked for (it ties the hit to this launch);
            # the manifest's own, with the environment in it, is cache_key.
            cache_key=action.cache_key or cache_key,
            outputs=manifest.outputs,
            parameters=manifest.parameters,
            producer_run=manifest.producer_run,
            producer_step=manifest.producer_step,
            created_at=manifest.created_at,
        )
        await self._publish_step_event(action, trace, EventKind.STEP_CACHED, data)
        return True

    async def _publish_step_event(
        self,
        action: LaunchStep,
        trace: tuple[str, str],
        kind: EventKind,
        data: StepLaunched | StepFailed | StepCached,
    ) -> None:
        event = make_event(
            kind,
            run_id=action.run_id,
            pipeline=action.pipeline,
            step=action.step,
            attempt=action.attempt,
            time=datetime.now(UTC),
            data=data,
            traceparent=trace[0],
            tracestate=trace[1],
        )
        await self.publish(event)

    async def publish(self, event: Event) -> None:
        """Publish ``event`` signed as the controller's (step events only)."""
        await self.bus.publish(self.keys.sign(event) if self.keys is not None else event)
