"""The scheduling index of a compiled pipeline.

:class:`Plan` is built once per spec digest (the controller caches it) in
O(tasks + edges): tasks by name, the component of each task, parents,
children, roots and parameter declarations. Every ``decide`` call then reads
it for O(out-degree) work and never walks the whole spec.

Building it also checks what scheduling relies on — unique task names, known
components, dependencies that exist and form no cycle, ``task_output``
bindings only to declared dependencies (otherwise a step could launch before
its producer finished) and ``pipeline_parameter`` bindings only to declared
parameters. A spec that fails raises :class:`PipelineDefinitionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from runner.errors import PipelineDefinitionError
from runner.spec.models import (
    ComponentSpec,
    InputBinding,
    IOKind,
    ParameterDecl,
    PipelineParameterInput,
    PipelineSpec,
    TaskOutputInput,
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

    @property
    def name(self) -> str:
        return self.task.name


@dataclass(frozen=True, slots=True)
class Plan:
    """Read-only index of one :class:`PipelineSpec` (one digest)."""

    spec: PipelineSpec
    digest: str
    tasks: Mapping[str, TaskPlan]
    """Every task by name, in the spec's (topological) order."""
    roots: tuple[str, ...]
    parameters: Mapping[str, ParameterDecl]

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

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> Plan:
        """Index ``spec``; raises :class:`PipelineDefinitionError` if it cannot be scheduled."""
        parameters = {p.name: p for p in spec.parameters}
        if len(parameters) != len(spec.parameters):
            raise PipelineDefinitionError(
                f"pipeline {spec.name!r} declares a parameter twice; give each a unique name"
            )
        by_name = _index_tasks(spec)
        children: dict[str, list[str]] = {name: [] for name in by_name}
        for task in spec.tasks:
            for parent in dict.fromkeys(task.dependencies):
                if parent not in by_name:
                    raise PipelineDefinitionError(
                        f"task {task.name!r} depends on {parent!r}, which is not a task of "
                        f"pipeline {spec.name!r}; recompile the pipeline"
                    )
                children[parent].append(task.name)
        _check_acyclic(spec, children)
        tasks = {
            task.name: _task_plan(spec, task, parameters, tuple(children[task.name]))
            for task in spec.tasks
        }
        roots = tuple(name for name, tp in tasks.items() if not tp.parents)
        return cls(
            spec=spec,
            digest=spec.digest(),
            tasks=MappingProxyType(tasks),
            roots=roots,
            parameters=MappingProxyType(parameters),
        )


def _index_tasks(spec: PipelineSpec) -> dict[str, TaskSpec]:
    by_name: dict[str, TaskSpec] = {}
    for task in spec.tasks:
        if task.name in by_name:
            raise PipelineDefinitionError(
                f"pipeline {spec.name!r} has two tasks named {task.name!r}; rename one"
            )
        if task.component not in spec.components:
            raise PipelineDefinitionError(
                f"task {task.name!r} uses component {task.component!r}, which the spec does "
                "not define; recompile the pipeline"
            )
        by_name[task.name] = task
    return by_name


def _check_acyclic(spec: PipelineSpec, children: Mapping[str, list[str]]) -> None:
    """Kahn's algorithm: every task must be reachable in a topological order."""
    indegree = {name: 0 for name in children}
    for kids in children.values():
        for kid in kids:
            indegree[kid] += 1
    ready = [name for name, degree in indegree.items() if degree == 0]
    seen = 0
    while ready:
        name = ready.pop()
        seen += 1
        for kid in children[name]:
            indegree[kid] -= 1
            if indegree[kid] == 0:
                ready.append(kid)
    if seen != len(children):
        stuck = sorted(name for name, degree in indegree.items() if degree > 0)
        raise PipelineDefinitionError(
            f"pipeline {spec.name!r} has a dependency cycle through {', '.join(stuck)}; "
            "remove an .after() or a data dependency to break it"
        )


def _task_plan(
    spec: PipelineSpec,
    task: TaskSpec,
    parameters: Mapping[str, ParameterDecl],
    children: tuple[str, ...],
) -> TaskPlan:
    component = spec.components[task.component]
    parents = tuple(dict.fromkeys(task.dependencies))
    inputs = tuple(
        _bound_input(task, component, name, b, parameters) for name, b in task.inputs.items()
    )
    defaults = {
        decl.name: decl.default
        for decl in component.inputs
        if decl.kind is IOKind.PARAMETER and decl.optional and decl.name not in task.inputs
    }
    return TaskPlan(
        task=task,
        component=component,
        parents=parents,
        children=children,
        inputs=inputs,
        defaults=MappingProxyType(defaults),
    )


def _bound_input(
    task: TaskSpec,
    component: ComponentSpec,
    name: str,
    binding: InputBinding,
    parameters: Mapping[str, ParameterDecl],
) -> BoundInput:
    decl = component.input(name)
    if decl is None:
        raise PipelineDefinitionError(
            f"task {task.name!r} binds input {name!r}, which component {component.name!r} "
            "does not declare; recompile the pipeline"
        )
    if isinstance(binding, TaskOutputInput) and binding.task not in task.dependencies:
        raise PipelineDefinitionError(
            f"task {task.name!r} reads output {binding.output!r} of {binding.task!r} but does "
            "not list it in its dependencies; recompile the pipeline"
        )
    if isinstance(binding, PipelineParameterInput) and binding.parameter not in parameters:
        raise PipelineDefinitionError(
            f"task {task.name!r} reads pipeline parameter {binding.parameter!r}, which the "
            "pipeline does not declare; add it to the pipeline's signature"
        )
    return BoundInput(name=name, binding=binding, artifact=decl.kind is IOKind.ARTIFACT)
