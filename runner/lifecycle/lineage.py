"""Lineage: which run and step made an artifact, from what, and who used it.

Nothing new is recorded for this. An artifact's URI names its producer
(``runs/<run>/<step>/<output>``); the producer's inputs are its task's
bindings in the spec, resolved against that run's state exactly as the
controller resolved them at launch (:func:`runner.core.resolve_inputs`). A
cached step's outputs are the producer run's artifacts, so following URIs
leads from a cache hit to the run that really computed them.

Downstream, the consumers of an artifact are found in its producer run and
in the runs the run index lists as using that run (cache hits and URI
parameters, :attr:`~runner.records.index.RunSummary.uses`); each is
checked step by step against its resolved inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.bus.base import Bus
from runner.core import Plan, RunState, StepStatus, resolve_inputs
from runner.core import names as step_names
from runner.core.resolve import StepInputs
from runner.core.values import Frame
from runner.errors import NotFoundError, RunnerError, ValidationError
from runner.events.models import ArtifactRef
from runner.records.index import RunIndex
from runner.records.plans import PlanCache
from runner.records.states import RunStates
from runner.store.base import ArtifactStore

__all__ = ["ArtifactNode", "Consumer", "LineageReader", "ProducerNode"]

MAX_DEPTH = 64
"""Deepest chain followed (specs are DAGs; this only bounds a corrupt store)."""
_UNRESOLVED = (StepStatus.PENDING, StepStatus.SKIPPED)


@dataclass
class ArtifactNode:
    """One artifact; ``producer`` is where it came from (upstream lineage)."""

    uri: str
    run: str
    step: str
    output: str
    digest: str | None = None
    size: int | None = None
    kind: str | None = None
    via: str | None = None
    """``run/step`` that reused it from the cache, when that is how it was asked for."""
    producer: ProducerNode | None = None
    consumers: list[Consumer] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uri": self.uri,
            "run": self.run,
            "step": self.step,
            "output": self.output,
            "digest": self.digest,
            "size": self.size,
            "kind": self.kind,
        }
        if self.via:
            out["via_cache_in"] = self.via
        if self.producer is not None:
            out["producer"] = self.producer.to_json()
        if self.consumers:
            out["consumers"] = [c.to_json() for c in self.consumers]
        return out


@dataclass
class ProducerNode:
    """The step that produced an artifact, with its inputs (recursively)."""

    run: str
    step: str
    status: str
    component: str
    component_digest: str
    cache_key: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[ArtifactNode]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "step": self.step,
            "status": self.status,
            "component": self.component,
            "component_digest": self.component_digest,
            "cache_key": self.cache_key,
            "parameters": self.parameters,
            "inputs": {k: [a.to_json() for a in v] for k, v in self.artifacts.items()},
        }


@dataclass
class Consumer:
    """A step that read an artifact (as ``input``), and what it made of it."""

    run: str
    step: str
    input: str
    cached: bool
    outputs: list[ArtifactNode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "step": self.step,
            "input": self.input,
            "cached": self.cached,
            "outputs": [o.to_json() for o in self.outputs],
        }


class LineageReader:
    """Walks lineage over one stack's run states, specs and run index."""

    def __init__(self, bus: Bus, store: ArtifactStore) -> None:
        self.bus = bus
        self.store = store
        self._states = RunStates(bus)
        self._plans = PlanCache(store)
        self._runs: dict[str, tuple[RunState, Plan]] = {}
        self._users: dict[str, list[str]] | None = None

    async def run(self, run_id: str) -> tuple[RunState, Plan]:
        if run_id not in self._runs:
            loaded = await self._states.load(run_id)
            if loaded is None:
                raise NotFoundError(
                    f"run {run_id!r} not found on NATS {self.bus.url}: list runs with "
                    "`runner runs list` (same --home / --nats as the run)"
                )
            state = loaded[0]
            self._runs[run_id] = (
                state,
                await self._plans.get(state.spec_uri, state.pipeline_digest),
            )
        return self._runs[run_id]

    # -- finding the artifact ---------------------------------------------------------

    async def locate(self, target: str) -> ArtifactNode:
        """``RUN/STEP/OUTPUT`` or an artifact URI of this store."""
        if "://" not in target and target.count("/") == 2:
            run_id, step, output = target.split("/")
            state, _ = await self.run(run_id)
            found = state.steps.get(step)
            if found is None:
                raise NotFoundError(
                    f"run {run_id} has no step {step!r} (its steps: {', '.join(state.steps)})"
                )
            ref = found.outputs.get(output)
            if ref is None:
                have = ", ".join(found.outputs) or "none"
                raise NotFoundError(
                    f"step {run_id}/{step} has no output artifact {output!r} (its artifacts: "
                    f"{have}); lineage follows artifacts, not output parameters"
                )
            node = self._node(ref)
            if (node.run, node.step) != (run_id, step):
                node.via = f"{run_id}/{step}"
            return node
        return self._node_from_uri(target)

    def _node(self, ref: ArtifactRef) -> ArtifactNode:
        node = self._node_from_uri(ref.uri)
        node.digest, node.size, node.kind = ref.digest, ref.size, ref.kind
        return node

    def _node_from_uri(self, uri: str) -> ArtifactNode:
        try:
            parts = self.store.key_for(uri.rstrip("/")).split("/")
        except RunnerError as exc:
            raise ValidationError(
                f"{uri!r} is not an artifact of the store {self.store.uri}: give a run output "
                "URI from `runner status RUN --json`, or RUN/STEP/OUTPUT"
            ) from exc
        if len(parts) < 4 or parts[0] != "runs":
            raise ValidationError(
                f"{uri!r} is not a run output (runs/<run>/<step>/<output>): give a run output "
                "URI from `runner status RUN --json`, or RUN/STEP/OUTPUT"
            )
        return ArtifactNode(uri=uri.rstrip("/"), run=parts[1], step=parts[2], output=parts[3])

    async def _inputs(self, run_id: str, step: str) -> StepInputs | None:
        state, plan = await self.run(run_id)
        found = state.steps.get(step)
        if found is None or found.status in _UNRESOLVED:
            return None
        try:
            task = plan.task_of_step(step)
            frame = Frame(plan, state, step_names.split(step)[1], step)
            resolved = resolve_inputs(task, frame)
        except (KeyError, IndexError, ValueError):
            return None  # state and spec disagree (a corrupt store): no lineage here
        return resolved if isinstance(resolved, StepInputs) else None

    # -- upstream ---------------------------------------------------------------------

    async def upstream(self, node: ArtifactNode, depth: int = 0) -> ArtifactNode:
        """Fill in ``node.producer`` recursively, back to steps with no artifact inputs."""
        state, plan = await self.run(node.run)
        step = state.steps.get(node.step)
        if step is None or depth > MAX_DEPTH:
            return node
        ref = step.outputs.get(node.output)
        if ref is not None and node.digest is None:
            node.digest, node.size, node.kind = ref.digest, ref.size, ref.kind
        component = plan.task_of_step(node.step).component
        producer = ProducerNode(
            run=node.run,
            step=node.step,
            status=step.status.value,
            component=component.name,
            component_digest=component.digest,
            cache_key=step.cache_key,
        )
        node.producer = producer
        inputs = await self._inputs(node.run, node.step)
        if inputs is None:
            return node
        producer.parameters = dict(inputs.parameters)
        for name, value in inputs.artifacts.items():
            refs = value if isinstance(value, list) else [value]
            producer.artifacts[name] = [await self.upstream(self._node(r), depth + 1) for r in refs]
        return node

    # -- downstream -------------------------------------------------------------------

    async def downstream(self, node: ArtifactNode) -> ArtifactNode:
        """Fill in ``node.consumers`` recursively: steps (in any run) that read it."""
        await self._consumers(node, seen=set(), depth=0)
        return node

    async def _consumers(self, node: ArtifactNode, seen: set[str], depth: int) -> None:
        if node.uri in seen or depth > MAX_DEPTH:
            return
        seen.add(node.uri)
        for run_id in await self._candidate_runs(node.run):
            state, _ = await self.run(run_id)
            for step_name, step in state.steps.items():
                inputs = await self._inputs(run_id, step_name)
                name = _reads(inputs, node.uri) if inputs is not None else None
                if name is None:
                    continue
                consumer = Consumer(run_id, step_name, name, cached=step.cached)
                for ref in step.outputs.values():
                    child = self._node(ref)
                    await self._consumers(child, seen, depth + 1)
                    consumer.outputs.append(child)
                node.consumers.append(consumer)

    async def _candidate_runs(self, producer_run: str) -> list[str]:
        if self._users is None:  # one index pass per walk
            self._users = {}
            for summary in await RunIndex(self.bus).scan():
                for used in summary.uses:
                    self._users.setdefault(used, []).append(summary.run_id)
        return [producer_run, *sorted(self._users.get(producer_run, []))]


def _reads(inputs: StepInputs, uri: str) -> str | None:
    """The input through which a step read ``uri``, if it did."""
    for name, value in inputs.artifacts.items():
        refs = value if isinstance(value, list) else [value]
        if any(r.uri == uri for r in refs):
            return name
    for name, param in inputs.parameters.items():
        if param == uri:
            return name
    return None
