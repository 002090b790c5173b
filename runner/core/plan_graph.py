"""The scheduling graph of a spec: scopes, lifted edges, soft edges, no cycles.

A scope is the pipeline itself (``None``) or the body of a loop. A
dependency of node ``N`` on task ``A`` is *lifted* to the scope both share:
with ``path(X)`` the enclosing loops of ``X`` followed by ``X`` itself, and
``k`` the length of their common prefix, the edge joins ``path(A)[k]`` to
``path(N)[k]``. So a task in a loop reading a task outside makes the loop
wait for it, and a task after a loop that reads inside it waits for the
whole loop. Every edge then joins two nodes of one scope, and one iteration
of a loop is an ordinary DAG of the loop's body nodes.

An edge is *soft* — it releases the child whatever the parent's outcome —
when every dependency behind it is: all of an exit handler's or an
``ignore_upstream_failure`` task's, and a task's ``OneOf`` options that it
reads nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from runner.errors import PipelineDefinitionError
from runner.spec.bindings import OneOfInput, TaskOutputInput
from runner.spec.conditions import condition_refs
from runner.spec.models import LoopSpec, PipelineSpec, TaskSpec


@dataclass(frozen=True, slots=True)
class Graph:
    enclosing: Mapping[str, tuple[str, ...]]
    """Each node's enclosing loops, outermost first."""
    parents: Mapping[str, tuple[str, ...]]
    children: Mapping[str, tuple[str, ...]]
    soft: Mapping[str, frozenset[str]]
    """Each node's soft parents."""
    members: Mapping[str | None, tuple[str, ...]]
    """Each scope's nodes (``None``: the pipeline's own), in spec order."""


def build_graph(
    spec: PipelineSpec, tasks: Mapping[str, TaskSpec], loops: Mapping[str, LoopSpec]
) -> Graph:
    enclosing = _enclosing(spec)
    raw: dict[str, list[tuple[str, bool]]] = {}
    for task in spec.tasks:
        raw[task.name] = _task_deps(spec, task, tasks)
    for loop in spec.loops:
        raw[loop.name] = [
            (dep, False) for dep in _existing(spec, loop.name, loop.dependencies, tasks)
        ]
    edges: dict[tuple[str, str], bool] = {}
    for node, deps in raw.items():
        for dep, soft in deps:
            edge = _lift(dep, node, enclosing)
            edges[edge] = edges.get(edge, True) and soft
    parents: dict[str, list[str]] = {node: [] for node in raw}
    children: dict[str, list[str]] = {node: [] for node in raw}
    soft_parents: dict[str, set[str]] = {node: set() for node in raw}
    for (parent, child), soft in edges.items():
        parents[child].append(parent)
        children[parent].append(child)
        if soft:
            soft_parents[child].add(parent)
    _check_acyclic(spec, children)
    members: dict[str | None, list[str]] = {None: [], **{name: [] for name in loops}}
    for node in raw:
        scope = enclosing[node][-1] if enclosing[node] else None
        members[scope].append(node)
    return Graph(
        enclosing=enclosing,
        parents={n: tuple(p) for n, p in parents.items()},
        children={n: tuple(c) for n, c in children.items()},
        soft={n: frozenset(s) for n, s in soft_parents.items()},
        members={scope: tuple(m) for scope, m in members.items()},
    )


def _enclosing(spec: PipelineSpec) -> dict[str, tuple[str, ...]]:
    chains: dict[str, tuple[str, ...]] = {}
    for loop in spec.loops:  # outer loops come first (checked by check_loops)
        chains[loop.name] = (*chains[loop.loop], loop.loop) if loop.loop else ()
    for task in spec.tasks:
        chains[task.name] = (*chains[task.loop], task.loop) if task.loop else ()
    return chains


def _existing(
    spec: PipelineSpec, node: str, deps: list[str], tasks: Mapping[str, TaskSpec]
) -> list[str]:
    for dep in dict.fromkeys(deps):
        if dep not in tasks:
            kind = "task" if node in tasks else "loop"
            raise PipelineDefinitionError(
                f"{kind} {node!r} depends on {dep!r}, which is not a task of pipeline "
                f"{spec.name!r}; recompile the pipeline"
            )
    return list(dict.fromkeys(deps))


def _task_deps(
    spec: PipelineSpec, task: TaskSpec, tasks: Mapping[str, TaskSpec]
) -> list[tuple[str, bool]]:
    deps = _existing(spec, task.name, task.dependencies, tasks)
    if task.exit_handler or task.ignore_upstream_failure:
        return [(dep, True) for dep in deps]
    options = {
        option.task
        for binding in task.inputs.values()
        if isinstance(binding, OneOfInput)
        for option in binding.options
    }
    if not options:
        return [(dep, False) for dep in deps]
    hard = {b.task for b in task.inputs.values() if isinstance(b, TaskOutputInput)}
    if task.condition is not None:
        refs = condition_refs(task.condition)
        hard |= {r.task for r in refs if isinstance(r, TaskOutputInput)}
    return [(dep, dep in options and dep not in hard) for dep in deps]


def _lift(dep: str, node: str, enclosing: Mapping[str, tuple[str, ...]]) -> tuple[str, str]:
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


def _check_acyclic(spec: PipelineSpec, children: Mapping[str, list[str]]) -> None:
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
