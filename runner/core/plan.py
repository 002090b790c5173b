"""The scheduling index of a compiled pipeline.

:class:`Plan` is built once per spec digest (the controller caches it) in
O(tasks + loops + edges): tasks and loops by name, the component of each
task, parents and children, roots and parameter declarations. Every
``decide`` call then reads it for O(out-degree) work and never walks the
whole spec.

Loops make the graph nested. The *nodes* of a scope (the pipeline, or one
loop's body) are its tasks and the loops directly in it; every dependency is
*lifted* to the scope where both ends meet (:mod:`runner.core.plan_graph`): a
task in a loop that reads a task outside it makes the loop wait for that
task; a task after the loop that reads ``Collected(...)`` of a task inside it
waits for the whole loop. ``parents`` and ``children`` hold these lifted,
same-scope edges; a *soft* parent (``soft_parents``) releases its child
whatever its outcome (exit handlers, ``ignore_upstream_failure``, ``OneOf``
options), a hard one only when it succeeded.

Building it first checks the spec as a whole
(:func:`runner.spec.checks.check_spec`); a spec that fails raises
:class:`PipelineDefinitionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from runner.core import names
from runner.core.plan_graph import Graph, build_graph
from runner.errors import PipelineDefinitionError
from runner.spec.checks import check_spec
from runner.spec.models import (
    ComponentSpec,
    Condition,
    InputBinding,
    IOKind,
    LoopSpec,
    ParameterDecl,
    PipelineSpec,
    TaskSpec,
)


@dataclass(frozen=True, slots=True)
class BoundInput:
    """One bound input of a task; ``artifact`` tells which upstream map to read."""

    name: str
    binding: InputBinding
    artifact: bool


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """A task with everything ``decide`` needs about it, precomputed."""

    task: TaskSpec
    component: ComponentSpec
    parents: tuple[str, ...]
    children: tuple[str, ...]
    inputs: tuple[BoundInput, ...]
    defaults: Mapping[str, object]
    """Defaults of unbound optional parameter inputs, passed explicitly at launch."""
    soft_parents: frozenset[str] = frozenset()
    scope: str | None = None
    """The innermost loop holding the task."""
    depth: int = 0
    """How many loops hold the task: the number of indexes in its step names."""

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def condition(self) -> Condition | None:
        return self.task.condition

    @property
    def exit_handler(self) -> bool:
        return self.task.exit_handler


@dataclass(frozen=True, slots=True)
class LoopPlan:
    """A ``ParallelFor``: a node of its enclosing scope and the scope of its body."""

    loop: LoopSpec
    parents: tuple[str, ...]
    children: tuple[str, ...]
    body: tuple[str, ...]
    """Tasks and loops directly in the loop, in spec order: one of each per iteration."""
    body_roots: tuple[str, ...]
    """Body nodes with no parent in the body: ready when an iteration starts."""
    soft_parents: frozenset[str] = frozenset()
    scope: str | None = None
    depth: int = 0
    """How many loops hold this one (its body's steps have ``depth + 1`` indexes)."""

    @property
    def name(self) -> str:
        return self.loop.name

    @property
    def condition(self) -> Condition | None:
        return self.loop.condition


Node = TaskPlan | LoopPlan


@dataclass(frozen=True, slots=True)
class Plan:
    """Read-only index of one :class:`PipelineSpec` (one digest)."""

    spec: PipelineSpec
    digest: str
    tasks: Mapping[str, TaskPlan]
    """Every task by name, in the spec's (topological) order."""
    roots: tuple[str, ...]
    """Nodes of the pipeline's own scope with no parents: ready when the run starts."""
    parameters: Mapping[str, ParameterDecl]
    loops: Mapping[str, LoopPlan] = field(default_factory=lambda: MappingProxyType({}))
    top: tuple[str, ...] = ()
    """Every node of the pipeline's own scope (outside all loops)."""

    @property
    def name(self) -> str:
        return self.spec.name

    def __len__(self) -> int:
        return len(self.tasks)

    def task(self, name: str) -> TaskSpec:
        """The task ``name``; raises KeyError if the pipeline has none."""
        return self.tasks[name].task

    def component_of(self, name: str) -> ComponentSpec:
        """The component task ``name`` runs; raises KeyError if the pipeline has no such task."""
        return self.tasks[name].component

    def node(self, name: str) -> Node:
        """The task or loop ``name``; raises KeyError for neither."""
        found = self.tasks.get(name)
        return found if found is not None else self.loops[name]

    def task_of_step(self, step: str) -> TaskPlan:
        """The task a step (``train`` or an iteration ``train[3]``) runs; KeyError if none."""
        return self.tasks[names.node_of(step)]

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> Plan:
        """Index ``spec``; raises :class:`PipelineDefinitionError` if it cannot be scheduled."""
        index = check_spec(spec)
        graph = build_graph(spec, index)
        tasks = {task.name: _task_plan(spec, task, graph) for task in spec.tasks}
        loop_plans = {loop.name: _loop_plan(loop, graph) for loop in spec.loops}
        top = graph.members[None]
        return cls(
            spec=spec,
            digest=spec.digest(),
            tasks=MappingProxyType(tasks),
            roots=tuple(n for n in top if not graph.parents[n]),
            parameters=MappingProxyType(index.parameters),
            loops=MappingProxyType(loop_plans),
            top=top,
        )


def _task_plan(spec: PipelineSpec, task: TaskSpec, graph: Graph) -> TaskPlan:
    component = spec.components[task.component]
    inputs = tuple(
        BoundInput(
            name=name,
            binding=binding,
            artifact=_decl_kind(component, task, name) is IOKind.ARTIFACT,
        )
        for name, binding in task.inputs.items()
    )
    defaults = {
        decl.name: decl.default
        for decl in component.inputs
        if decl.kind is IOKind.PARAMETER and decl.optional and decl.name not in task.inputs
    }
    return TaskPlan(
        task=task,
        component=component,
        parents=graph.parents[task.name],
        children=graph.children[task.name],
        inputs=inputs,
        defaults=MappingProxyType(defaults),
        soft_parents=graph.soft[task.name],
        scope=task.loop,
        depth=len(graph.enclosing[task.name]),
    )


def _decl_kind(component: ComponentSpec, task: TaskSpec, name: str) -> IOKind:
    decl = component.input(name)
    if decl is None:
        raise PipelineDefinitionError(
            f"task {task.name!r} binds input {name!r}, which component {component.name!r} "
            "does not declare; recompile the pipeline"
        )
    return decl.kind


def _loop_plan(loop: LoopSpec, graph: Graph) -> LoopPlan:
    body = graph.members[loop.name]
    return LoopPlan(
        loop=loop,
        parents=graph.parents[loop.name],
        children=graph.children[loop.name],
        body=body,
        body_roots=tuple(n for n in body if not graph.parents[n]),
        soft_parents=graph.soft[loop.name],
        scope=loop.loop,
        depth=len(graph.enclosing[loop.name]),
    )
