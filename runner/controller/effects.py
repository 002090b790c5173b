"""Performing the actions ``decide`` returned: the only place effects happen.

Every effect is idempotent, so performing an action twice (a redelivered
event, a restarted or second controller) changes nothing: events carry
deterministic ids (JetStream drops duplicates) and executors adopt an
attempt that is already running.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from runner.bus.base import Bus
from runner.core import Action, LaunchStep, Plan, PublishEvent, RunState, StopStep
from runner.events.auth import ReportKeys
from runner.events.envelope import Event, make_event
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, StepCached, StepFailed, StepLaunched
from runner.executors.base import AttemptInfo, Executor
from runner.privacy import redact_url
from runner.step.request import StepRequest
from runner.store.base import ArtifactStore
from runner.store.manifests import lookup
from runner.telemetry.ids import attempt_trace
from runner.telemetry.tracer import RunTracer

log = logging.getLogger(__name__)


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
        self.cache_hits = 0
        self.launches = 0

    async def perform(self, action: Action, state: RunState, plan: Plan | None) -> None:
        """Perform ``action``; a launch needs the run's ``plan``."""
        if isinstance(action, PublishEvent):
            await self.publish(action.event)
        elif isinstance(action, LaunchStep):
            assert plan is not None, "a launch needs the run's plan"
            await self._launch(action, state, plan)
        elif isinstance(action, StopStep):
            await self.executor.stop(
                AttemptInfo(run_id=action.run_id, pipeline=action.pipeline, step=action.step,
                            attempt=action.attempt, launch_id=action.launch_id)
            )  # fmt: skip
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown action {action!r}")

    async def _launch(self, action: LaunchStep, state: RunState, plan: Plan) -> None:
        # The attempt's span starts now; every event about the attempt says so.
        trace = attempt_trace(state, action.step, action.attempt, datetime.now(UTC))
        if action.cache_key:
            with self.tracing.work("cache lookup", state, action.step):
                hit = await self._publish_cache_hit(action, trace)
            if hit:
                return
        task = plan.task(action.task)
        request = StepRequest(
            run_id=action.run_id,
            pipeline=action.pipeline,
            step=action.step,
            attempt=action.attempt,
            task=task,
            component=plan.component_of(action.task),
            parameters=action.parameters,
            artifacts=action.artifacts,
            code=state.code,
            store_uri=self.store.uri,
            nats_url=self.step_nats_url,
            env=self.step_env,
            cache_key=action.cache_key,
            traceparent=trace[0],
            tracestate=trace[1],
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
            return
        self.launches += 1
        await self._publish_step_event(
            action,
            trace,
            EventKind.STEP_LAUNCHED,
            StepLaunched(
                attempt=action.attempt,
                executor=self.executor.name,
                launch_id=launch_id,
                cache_key=action.cache_key,
            ),
        )

    async def _publish_cache_hit(self, action: LaunchStep, trace: tuple[str, str]) -> bool:
        assert action.cache_key is not None
        manifest = await lookup(self.store, action.cache_key)
        if manifest is None:
            return False
        self.cache_hits += 1
        data = StepCached(
            cache_key=action.cache_key,
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
