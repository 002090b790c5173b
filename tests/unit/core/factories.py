"""Hand-written specs and an event driver for the core tests (no DSL on purpose)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from runner.core import Decision, LaunchStep, Plan, PublishEvent, RunState, StopStep, decide
from runner.events import (
    ArtifactRef,
    ErrorInfo,
    Event,
    EventKind,
    RunCancelRequested,
    RunRequested,
    StepCached,
    StepFailed,
    StepLaunched,
    StepStarted,
    StepSucceeded,
    make_event,
)
from runner.events.models import _Data
from runner.spec import (
    CompareOp,
    Comparison,
    ComponentSpec,
    Condition,
    ConstantInput,
    InputBinding,
    InputDecl,
    IOKind,
    LoopSpec,
    OutputDecl,
    ParameterDecl,
    ParameterType,
    PipelineSpec,
    RetryPolicy,
    TaskOutputInput,
    TaskSpec,
    ValueRef,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RUN = "r1"
PIPELINE = "demo"


def component(
    name: str = "noop",
    *,
    params: Iterable[str] = (),
    artifacts: Iterable[str] = (),
    outputs: Iterable[str] = ("out",),
    artifact_outputs: Iterable[str] = (),
    **extra: Any,
) -> ComponentSpec:
    """A python component; parameter inputs accept any JSON value."""
    inputs = [
        InputDecl(name=p, kind=IOKind.PARAMETER, parameter_type=ParameterType.ANY) for p in params
    ] + [InputDecl(name=a, kind=IOKind.ARTIFACT) for a in artifacts]
    outs = [OutputDecl(name=o, kind=IOKind.PARAMETER) for o in outputs] + [
        OutputDecl(name=o, kind=IOKind.ARTIFACT) for o in artifact_outputs
    ]
    fields: dict[str, Any] = {"digest": f"sha256:{name}", "entrypoint": f"m:{name}"}
    fields.update(extra)
    return ComponentSpec(name=name, kind="python", inputs=inputs, outputs=outs, **fields)


def task(
    name: str,
    *deps: str,
    component: str = "noop",
    inputs: Mapping[str, InputBinding] | None = None,
    max_attempts: int = 1,
    **extra: Any,
) -> TaskSpec:
    return TaskSpec(
        name=name,
        component=component,
        dependencies=sorted(deps),
        inputs=dict(inputs or {}),
        retry=RetryPolicy(max_attempts=max_attempts, backoff_seconds=10, max_backoff_seconds=25),
        **extra,
    )


def spec(
    *tasks: TaskSpec,
    components: Iterable[ComponentSpec] = (),
    parameters: Iterable[ParameterDecl] = (),
    loops: Iterable[LoopSpec] = (),
) -> PipelineSpec:
    comps = {c.name: c for c in [component(), *components]}
    return PipelineSpec(
        name=PIPELINE,
        tasks=list(tasks),
        components=comps,
        parameters=list(parameters),
        loops=list(loops),
    )


def loop(
    name: str,
    items: ValueRef | list[Any],
    *deps: str,
    parallelism: int | None = None,
    inside: str | None = None,
    condition: Condition | None = None,
) -> LoopSpec:
    """A ParallelFor; ``items`` is a constant list or a value reference."""
    ref = ConstantInput(value=items) if isinstance(items, list) else items
    return LoopSpec(
        name=name,
        items=ref,
        parallelism=parallelism,
        loop=inside,
        condition=condition,
        dependencies=sorted(deps),
    )


def out(task: str, output: str = "out") -> TaskOutputInput:
    return TaskOutputInput(task=task, output=output)


def compare(left: ValueRef | Any, op: CompareOp, right: ValueRef | Any) -> Comparison:
    """A comparison; plain values become constants."""

    def ref(value: Any) -> Any:
        is_ref = hasattr(value, "kind") and not isinstance(value, dict | list)
        return value if is_ref else ConstantInput(value=value)

    return Comparison(op=op, left=ref(left), right=ref(right))


def dag(edges: Mapping[str, Iterable[str]], **task_extra: Any) -> Plan:
    """A plan of no-op tasks; ``edges`` maps each task to its parents (in topological order)."""
    return Plan.from_spec(spec(*(task(n, *ps, **task_extra) for n, ps in edges.items())))


def chain(n: int) -> Plan:
    names = [f"s{i}" for i in range(n)]
    return dag({name: names[i - 1 : i] for i, name in enumerate(names)})


def artifact(name: str, digest: str = "sha256:abc") -> ArtifactRef:
    return ArtifactRef(uri=f"file:///store/{name}", digest=digest, size=3)


class Driver:
    """Feeds events to ``decide`` for one run, like the shell does, and keeps the state."""

    def __init__(self, plan: Plan, *, roundtrip: bool = True) -> None:
        self.plan = plan
        self.state: RunState | None = None
        self.now = T0
        self.roundtrip = roundtrip
        self.history: list[Decision] = []

    def deliver(self, event: Event) -> Decision:
        if self.roundtrip and self.state is not None:
            # The shell loads a fresh copy from the KV bucket for every event.
            self.state = RunState.model_validate_json(
                self.state.model_dump_json(exclude_defaults=True)
            )
        decision = decide(self.state, event, self.plan, self.now)
        self.state = decision.state
        self.history.append(decision)
        return decision

    def send(
        self, kind: EventKind, data: _Data, step: str | None = None, attempt: int | None = None
    ) -> Decision:
        return self.deliver(self.event(kind, data, step, attempt))

    def event(
        self, kind: EventKind, data: _Data, step: str | None = None, attempt: int | None = None
    ) -> Event:
        return make_event(
            kind,
            run_id=RUN,
            pipeline=PIPELINE,
            data=data,
            time=self.now,
            component="step" if step else "cli",
            step=step,
            attempt=attempt,
        )

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)

    # -- events by kind -------------------------------------------------------------------

    def request(self, no_cache: bool = False, **parameters: Any) -> Decision:
        data = RunRequested(
            pipeline=PIPELINE,
            pipeline_digest=self.plan.digest,
            spec_uri=f"file:///store/pipelines/{PIPELINE}/{self.plan.digest}.json",
            parameters=parameters,
            no_cache=no_cache,
        )
        return self.send(EventKind.RUN_REQUESTED, data)

    def launched(self, step: str, attempt: int = 1) -> Decision:
        data = StepLaunched(attempt=attempt, executor="local", launch_id=f"{step}-{attempt}")
        return self.send(EventKind.STEP_LAUNCHED, data, step, attempt)

    def started(self, step: str, attempt: int = 1) -> Decision:
        return self.send(EventKind.STEP_STARTED, StepStarted(attempt=attempt), step, attempt)

    def succeeded(
        self,
        step: str,
        attempt: int = 1,
        outputs: Mapping[str, ArtifactRef] | None = None,
        **parameters: Any,
    ) -> Decision:
        data = StepSucceeded(attempt=attempt, outputs=dict(outputs or {}), parameters=parameters)
        return self.send(EventKind.STEP_SUCCEEDED, data, step, attempt)

    def failed(self, step: str, attempt: int = 1, reason: str = "Exception") -> Decision:
        error = ErrorInfo(reason=reason, message=f"{step} attempt {attempt} broke")
        return self.send(
            EventKind.STEP_FAILED, StepFailed(attempt=attempt, error=error), step, attempt
        )

    def cached(self, step: str, cache_key: str, **parameters: Any) -> Decision:
        data = StepCached(
            cache_key=cache_key, parameters=parameters, producer_run="r0", producer_step=step
        )
        return self.send(EventKind.STEP_CACHED, data, step)

    def cancel(self, reason: str = "stop it") -> Decision:
        return self.send(EventKind.RUN_CANCEL_REQUESTED, RunCancelRequested(reason=reason))

    def run_step(self, step: str, attempt: int = 1, **parameters: Any) -> Decision:
        self.launched(step, attempt)
        self.started(step, attempt)
        return self.succeeded(step, attempt, **parameters)

    @property
    def run(self) -> RunState:
        assert self.state is not None
        return self.state


def launches(decision: Decision) -> list[LaunchStep]:
    return [a for a in decision.actions if isinstance(a, LaunchStep)]


def launched_steps(decision: Decision) -> list[str]:
    return [a.step for a in launches(decision)]


def stops(decision: Decision) -> list[StopStep]:
    return [a for a in decision.actions if isinstance(a, StopStep)]


def published(decision: Decision) -> list[Event]:
    return [a.event for a in decision.actions if isinstance(a, PublishEvent)]


def kinds(decision: Decision) -> list[str]:
    return [e.kind.value for e in published(decision)]


def statuses(state: RunState) -> dict[str, str]:
    return {name: step.status.value for name, step in state.steps.items()}
