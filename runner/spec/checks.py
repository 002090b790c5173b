"""What a compiled spec must satisfy to be scheduled: :func:`check_spec`.

Unique parameter, task and loop names, known components, loops nested only
in loops defined before them, dependencies on tasks that exist and, lifted to
the scope where both ends meet (:func:`lift`), no cycle; and bindings that
can be resolved when their task is ready: ``task_output`` bindings and
condition operands only to declared dependencies visible from the task's
scope (the same or an enclosing loop), ``pipeline_parameter`` bindings only
to declared parameters, ``loop_item`` only to an enclosing loop,
``collected`` only from a task directly inside a loop of the consumer's scope
into a list input, ``final_status`` only on an exit handler. The compiler
runs it on every spec it writes (the DSL reports most of these earlier, with
file and line) and :meth:`runner.core.Plan.from_spec` on every spec it
indexes: the controller's own guard against a hand-written or stale spec.
Each problem is a :class:`PipelineDefinitionError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runner.errors import PipelineDefinitionError
from runner.spec.bindings import (
    CollectedInput,
    ConstantInput,
    FinalStatusInput,
    InputBinding,
    LoopItemInput,
    OneOfInput,
    PipelineParameterInput,
    TaskOutputInput,
    ValueRef,
)
from runner.spec.conditions import condition_refs
from runner.spec.models import (
    InputDecl,
    IOKind,
    LoopSpec,
    ParameterDecl,
    ParameterType,
    PipelineSpec,
    TaskSpec,
)

__all__ = ["SpecIndex", "check_spec", "lift"]

_FIX = "recompile the pipeline"


@dataclass(frozen=True, slots=True)
class SpecIndex:
    """A checked spec's declarations by name, for those who index it further (the plan)."""

    parameters: Mapping[str, ParameterDecl]
    tasks: Mapping[str, TaskSpec]
    loops: Mapping[str, LoopSpec]
    enclosing: Mapping[str, tuple[str, ...]]
    """Each task's and loop's enclosing loops, outermost first."""


def check_spec(spec: PipelineSpec) -> SpecIndex:
    """Check ``spec`` as a whole; raises :class:`PipelineDefinitionError` for the first
    problem. O(tasks + loops + edges + bindings)."""
    parameters = _index_parameters(spec)
    tasks = _index_tasks(spec)
    loops = _check_loops(spec, tasks)
    enclosing = _enclosing(spec)
    deps = {
        **{t.name: _existing(spec, t.name, t.dependencies, tasks) for t in spec.tasks},
        **{loop.name: _existing(spec, loop.name, loop.dependencies, tasks) for loop in spec.loops},
    }
    children: dict[str, set[str]] = {node: set() for node in deps}
    for node, ups in deps.items():
        for dep in ups:
            parent, child = lift(dep, node, enclosing)
            children[parent].add(child)
    _check_acyclic(spec, children)
    _check_bindings(spec, tasks, loops, enclosing, parameters)
    return SpecIndex(parameters=parameters, tasks=tasks, loops=loops, enclosing=enclosing)


def lift(dep: str, node: str, enclosing: Mapping[str, tuple[str, ...]]) -> tuple[str, str]:
    """The edge a dependency of ``node`` on ``dep`` becomes in the scope both share.

    With ``path(X)`` the enclosing loops of ``X`` followed by ``X`` itself and
    ``k`` the length of their common prefix, it joins ``path(dep)[k]`` to
    ``path(node)[k]``: a task in a loop that reads a task outside makes the
    loop wait for it, and a task after a loop that reads inside it waits for
    the whole loop.
    """
    if dep == node:
        return node, node  # reported by the cycle check
    upper, lower = (*enclosing[dep], dep), (*enclosing[node], node)
    k = 0
    while k < min(len(upper), len(lower)) and upper[k] == lower[k]:
        k += 1
    if k == len(lower):
        raise PipelineDefinitionError(
            f"dependency cycle through {node}: the loop depends on {dep!r}, which runs "
            "inside it; a loop's items and condition must come from outside the loop"
        )
    return upper[k], lower[k]


def _index_parameters(spec: PipelineSpec) -> dict[str, ParameterDecl]:
    parameters = {p.name: p for p in spec.parameters}
    if len(parameters) != len(spec.parameters):
        raise PipelineDefinitionError(
            f"pipeline {spec.name!r} declares a parameter twice; give each a unique name"
        )
    return parameters


def _enclosing(spec: PipelineSpec) -> dict[str, tuple[str, ...]]:
    chains: dict[str, tuple[str, ...]] = {}
    for loop in spec.loops:  # outer loops come first (checked by _check_loops)
        chains[loop.name] = (*chains[loop.loop], loop.loop) if loop.loop else ()
    for task in spec.tasks:
        chains[task.name] = (*chains[task.loop], task.loop) if task.loop else ()
    return chains


def _existing(
    spec: PipelineSpec, node: str, deps: Iterable[str], tasks: Mapping[str, TaskSpec]
) -> list[str]:
    """``deps`` without repeats, each a task of the spec."""
    unique = list(dict.fromkeys(deps))
    for dep in unique:
        if dep not in tasks:
            kind = "task" if node in tasks else "loop"
            raise PipelineDefinitionError(
                f"{kind} {node!r} depends on {dep!r}, which is not a task of pipeline "
                f"{spec.name!r}; recompile the pipeline"
            )
    return unique


def _check_acyclic(spec: PipelineSpec, children: Mapping[str, set[str]]) -> None:
    """Kahn's algorithm: every node must be reachable in a topological order."""
    indegree = dict.fromkeys(children, 0)
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
                f"not define; {_FIX}"
            )
        by_name[task.name] = task
    return by_name


def _check_loops(spec: PipelineSpec, tasks: Mapping[str, TaskSpec]) -> dict[str, LoopSpec]:
    loops: dict[str, LoopSpec] = {}
    for loop in spec.loops:
        if loop.name in loops or loop.name in tasks:
            raise PipelineDefinitionError(
                f"pipeline {spec.name!r} has two tasks or loops named {loop.name!r}; {_FIX}"
            )
        if loop.loop is not None and loop.loop not in loops:
            raise PipelineDefinitionError(
                f"loop {loop.name!r} is nested in {loop.loop!r}, which is not a loop listed "
                f"before it; {_FIX}"
            )
        loops[loop.name] = loop
    for task in spec.tasks:
        if task.loop is not None and task.loop not in loops:
            raise PipelineDefinitionError(
                f"task {task.name!r} is in loop {task.loop!r}, which the spec does not "
                f"define; {_FIX}"
            )
    return loops


class _Checker:
    def __init__(
        self,
        spec: PipelineSpec,
        tasks: Mapping[str, TaskSpec],
        enclosing: Mapping[str, tuple[str, ...]],
        parameters: Mapping[str, ParameterDecl],
    ) -> None:
        self.spec = spec
        self.tasks = tasks
        self.enclosing = enclosing
        self.parameters = parameters

    def ref(self, node: str, deps: list[str], ref: ValueRef, what: str) -> None:
        """A value read by ``node`` (a task or a loop) for ``what``."""
        if isinstance(ref, PipelineParameterInput) and ref.parameter not in self.parameters:
            raise PipelineDefinitionError(
                f"{node!r} {what} reads pipeline parameter {ref.parameter!r}, which the "
                "pipeline does not declare; add it to the pipeline's signature"
            )
        if isinstance(ref, TaskOutputInput):
            self.upstream(node, deps, ref.task, ref.output)
            self.visible(node, ref.task)
        if isinstance(ref, LoopItemInput) and ref.loop not in self.enclosing[node]:
            raise PipelineDefinitionError(
                f"{node!r} {what} reads the item of loop {ref.loop!r}, which does not "
                f"enclose it; {_FIX}"
            )

    def parameter_output(self, node: str, ref: ValueRef, what: str) -> None:
        if not isinstance(ref, TaskOutputInput):
            return
        producer = self.tasks[ref.task]
        decl = self.spec.components[producer.component].output(ref.output)
        if decl is None or decl.kind is not IOKind.PARAMETER:
            raise PipelineDefinitionError(
                f"{node!r} {what} reads output {ref.output!r} of task {ref.task!r}, which "
                f"its component does not declare as a parameter output; {_FIX}"
            )

    def upstream(self, node: str, deps: list[str], task: str, output: str) -> None:
        if task not in deps:
            raise PipelineDefinitionError(
                f"task {node!r} reads output {output!r} of {task!r} but does not list it "
                f"in its dependencies; {_FIX}"
            )

    def visible(self, node: str, producer: str) -> None:
        outer = self.enclosing[producer]
        if self.enclosing[node][: len(outer)] != outer:
            raise PipelineDefinitionError(
                f"{node!r} reads {producer!r}, which runs once per iteration of loop "
                f"{outer[-1]!r} that does not enclose it; read it through a Collected "
                f"input after the loop; {_FIX}"
            )

    def binding(self, task: TaskSpec, decl: InputDecl, binding: InputBinding) -> None:
        if decl.is_list and not isinstance(binding, CollectedInput):
            raise PipelineDefinitionError(
                f"task {task.name!r} input {decl.name!r} is a list of artifacts; only a "
                f"collected binding fills it; {_FIX}"
            )
        if isinstance(binding, PipelineParameterInput | TaskOutputInput | LoopItemInput):
            self.ref(task.name, task.dependencies, binding, f"input {decl.name!r}")
        elif isinstance(binding, OneOfInput):
            for option in binding.options:
                self.ref(task.name, task.dependencies, option, f"input {decl.name!r}")
        elif isinstance(binding, CollectedInput):
            self.collected(task, decl, binding)
        elif isinstance(binding, FinalStatusInput) and not task.exit_handler:
            raise PipelineDefinitionError(
                f"task {task.name!r} input {decl.name!r} takes a final status, which only "
                f"an exit handler task receives; {_FIX}"
            )

    def collected(self, task: TaskSpec, decl: InputDecl, binding: CollectedInput) -> None:
        self.upstream(task.name, task.dependencies, binding.task, binding.output)
        outer = self.enclosing[binding.task]
        if not outer or outer[:-1] != self.enclosing[task.name]:
            raise PipelineDefinitionError(
                f"task {task.name!r} collects {binding.task!r}, which is not directly inside "
                f"a loop of the task's own scope; {_FIX}"
            )
        if decl.kind is IOKind.ARTIFACT and not decl.is_list:
            raise PipelineDefinitionError(
                f"task {task.name!r} input {decl.name!r} collects artifacts but is not a "
                f"list of artifacts; {_FIX}"
            )
        if decl.kind is IOKind.PARAMETER and decl.parameter_type not in (
            ParameterType.LIST,
            ParameterType.ANY,
        ):
            raise PipelineDefinitionError(
                f"task {task.name!r} input {decl.name!r} collects a list but is a "
                f"{decl.parameter_type}; {_FIX}"
            )


def _check_bindings(
    spec: PipelineSpec,
    tasks: Mapping[str, TaskSpec],
    loops: Mapping[str, LoopSpec],
    enclosing: Mapping[str, tuple[str, ...]],
    parameters: Mapping[str, ParameterDecl],
) -> None:
    check = _Checker(spec, tasks, enclosing, parameters)
    for task in spec.tasks:
        component = spec.components[task.component]
        for name, binding in task.inputs.items():
            decl = component.input(name)
            if decl is None:
                raise PipelineDefinitionError(
                    f"task {task.name!r} binds input {name!r}, which component "
                    f"{component.name!r} does not declare; {_FIX}"
                )
            check.binding(task, decl, binding)
        for ref in condition_refs(task.condition) if task.condition else []:
            check.ref(task.name, task.dependencies, ref, "condition")
            check.parameter_output(task.name, ref, "condition")
    for loop in loops.values():
        if isinstance(loop.items, ConstantInput) and not isinstance(loop.items.value, list):
            raise PipelineDefinitionError(
                f"loop {loop.name!r} iterates over the constant {loop.items.value!r}, which "
                f"is not a list; {_FIX}"
            )
        refs = [loop.items, *(condition_refs(loop.condition) if loop.condition else [])]
        for ref in refs:
            check.ref(loop.name, loop.dependencies, ref, "loop")
            check.parameter_output(loop.name, ref, "loop")
