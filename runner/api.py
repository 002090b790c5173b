"""Library entry points: submit a pipeline run and follow it.

``submit`` compiles the pipeline, packs its source tree into a
content-addressed code package, stores the spec and the package, and
publishes ``run.requested`` (:func:`request_run`, which alone starts a run
from a spec and package already stored: registered versions, reruns,
schedules). The returned :class:`RunHandle` waits for the
run, reads its state and streams its events. The CLI is a thin layer over
these functions; tests use them directly.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.bus.base import Bus
from runner.controller.states import RunStates
from runner.core import RunState
from runner.dsl.modules import module_location
from runner.dsl.pipeline import PipelineDefinition
from runner.errors import NotFoundError, PipelineDefinitionError
from runner.events.envelope import Event, make_event
from runner.events.kinds import TERMINAL_RUN_KINDS, EventKind, subject_filter, validate_name
from runner.events.models import CodeRef, RunCancelRequested, RunRequested
from runner.spec.models import PipelineSpec
from runner.store.base import ArtifactStore
from runner.store.codepkg import build_code_package, upload_code_package
from runner.store.keys import pipeline_spec_key
from runner.telemetry.propagation import caller_trace


def new_run_id(pipeline: str, now: datetime | None = None) -> str:
    """A readable, unique, subject-safe run id: ``<pipeline>-<utc time>-<random>``."""
    now = now or datetime.now(UTC)
    stem = pipeline[:30].rstrip("-")
    return validate_name(f"{stem}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}", "run id")


def source_root_of(definition: PipelineDefinition) -> Path:
    """The directory whose tree is shipped as the pipeline's code package:
    above the top-most package holding the pipeline's module, else its own."""
    source = inspect.getsourcefile(definition.fn)
    if source is None:
        raise PipelineDefinitionError(
            f"pipeline '{definition.name}' has no source file: define it in a .py file"
        )
    return module_location(Path(source))[0]


async def store_spec(store: ArtifactStore, spec: PipelineSpec) -> str:
    """Put the spec at ``pipelines/<name>/<digest>.json`` (immutable); return its URI."""
    key = pipeline_spec_key(spec.name, spec.digest())
    await store.put_if_absent(key, spec.canonical_json())
    return store.uri_for(key)


async def submit(
    pipeline: PipelineDefinition,
    parameters: Mapping[str, Any] | None = None,
    *,
    bus: Bus,
    store: ArtifactStore,
    no_cache: bool = False,
    experiment: str = "default",
    run_id: str | None = None,
    source_root: Path | None = None,
    requested_by: str = "api",
    labels: Mapping[str, str] | None = None,
) -> RunHandle:
    """Compile, package and request a run; returns at once with a handle."""
    spec = pipeline.compile()
    params = dict(parameters or {})
    unknown = sorted(set(params) - {p.name for p in spec.parameters})
    if unknown:
        known = ", ".join(p.name for p in spec.parameters) or "none"
        raise PipelineDefinitionError(
            f"pipeline '{spec.name}' has no parameter {unknown[0]!r} (its parameters: {known})"
        )
    root = source_root or source_root_of(pipeline)
    package = await asyncio.to_thread(build_code_package, root)
    code: CodeRef = await upload_code_package(store, package)
    spec_uri = await store_spec(store, spec)
    return await request_run(
        bus=bus,
        pipeline=spec.name,
        digest=spec.digest(),
        spec_uri=spec_uri,
        code=code,
        parameters=params,
        no_cache=no_cache,
        experiment=experiment,
        run_id=run_id,
        requested_by=requested_by,
        labels=labels,
    )


async def request_run(
    *,
    bus: Bus,
    pipeline: str,
    digest: str,
    spec_uri: str,
    code: CodeRef | None,
    parameters: Mapping[str, Any] | None = None,
    no_cache: bool = False,
    experiment: str = "default",
    version: str | None = None,
    run_id: str | None = None,
    requested_by: str = "api",
    labels: Mapping[str, str] | None = None,
    time: datetime | None = None,
) -> RunHandle:
    """Publish ``run.requested`` for a spec and code package already in the store.

    No compiling or packaging: this is how a registered pipeline version, a
    rerun or a schedule starts a run. A given ``run_id`` makes the request
    deterministic (its event id is ``<run id>/run.requested``), so a repeat is
    dropped by JetStream and ignored by the controller.
    """
    run_id = validate_name(run_id, "run id") if run_id else new_run_id(pipeline)
    traceparent, tracestate = caller_trace()  # the run's trace joins the caller's, if any
    event = make_event(
        EventKind.RUN_REQUESTED,
        run_id=run_id,
        pipeline=pipeline,
        component="api",
        time=time or datetime.now(UTC),
        data=RunRequested(
            pipeline=pipeline,
            pipeline_digest=digest,
            spec_uri=spec_uri,
            code=code,
            parameters=dict(parameters or {}),
            no_cache=no_cache,
            experiment=validate_name(experiment, "experiment"),
            version=version,
            requested_by=requested_by,
            labels=dict(labels or {}),
        ),
        traceparent=traceparent,
        tracestate=tracestate,
    )
    await bus.publish(event)
    return RunHandle(bus=bus, run_id=run_id, pipeline=pipeline)


class RunHandle:
    """A submitted run: wait for it, read its state, follow its events, cancel it."""

    def __init__(self, *, bus: Bus, run_id: str, pipeline: str) -> None:
        self.bus = bus
        self.run_id = run_id
        self.pipeline = pipeline
        self._states = RunStates(bus)

    async def state(self) -> RunState | None:
        """The controller's current view of the run (None until it saw the request)."""
        loaded = await self._states.load(self.run_id)
        return loaded[0] if loaded else None

    def events(self, *, follow: bool = True) -> AsyncIterator[Event]:
        """Every event of this run from the start, in order."""
        return self.bus.subscribe(subject_filter(self.pipeline, self.run_id), deliver="all")

    async def wait(self, timeout: float | None = None) -> RunState:
        """Wait for the run to end; returns its final state."""
        async with asyncio.timeout(timeout):
            stream = self.bus.subscribe(subject_filter(self.pipeline, self.run_id, "run"))
            try:
                async for event in stream:
                    if event.kind in TERMINAL_RUN_KINDS:
                        break
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
            # The terminal event is published after the state is written.
            for _ in range(50):
                state = await self.state()
                if state is not None and state.status.terminal:
                    return state
                await asyncio.sleep(0.05)
        raise NotFoundError(f"run {self.run_id} ended but its state is not readable")

    async def cancel(self, reason: str = "cancelled by user", requested_by: str = "api") -> None:
        event = make_event(
            EventKind.RUN_CANCEL_REQUESTED,
            run_id=self.run_id,
            pipeline=self.pipeline,
            component="api",
            time=datetime.now(UTC),
            data=RunCancelRequested(reason=reason, requested_by=requested_by),
        )
        await self.bus.publish(event)
