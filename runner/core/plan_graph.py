"""The scheduling graph of a checked spec: scopes, lifted edges, soft edges.

A scope is the pipeline itself (``None``) or the body of a loop. Every
dependency is lifted to the scope both ends share
(:func:`runner.spec.checks.lift`), so every edge joins two nodes of one
scope, and one iteration of a loop is an ordinary DAG of the loop's body
nodes (:func:`runner.spec.checks.check_spec` has refused cycles and
dependencies on tasks that do not exist).

An edge is *soft* — it releases the child whatever the parent's outcome —
when every dependency behind it is: all of an exit handler's or an
``ignore_upstream_failure`` task's, and a task's ``OneOf`` options that it
reads nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from runner.spec.bindings import OneOfInput, TaskOutputInput
from runner.spec.checks import SpecIndex, lift
from runner.spec.conditions import condition_refs
from runner.spec.models import PipelineSpec, TaskSpec


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


def build_graph(spec: PipelineSpec, index: SpecIndex) -> Graph:
    enclosing = index.enclosing
    raw: dict[str, list[tuple[str, bool]]] = {}
    for task in spec.tasks:
        raw[task.name] = _task_deps(task)
    for loop in spec.loops:
        raw[loop.name] = [(dep, False) for dep in dict.fromkeys(loop.dependencies)]
    edges: dict[tuple[str, str], bool] = {}
    for node, deps in raw.items():
        for dep, soft in deps:
            edge = lift(dep, node, enclosing)
            edges[edge] = edges.get(edge, True) and soft
    parents: dict[str, list[str]] = {node: [] for node in raw}
    children: dict[str, list[str]] = {node: [] for node in raw}
    soft_parents: dict[str, set[str]] = {node: set() for node in raw}
    for (parent, child), soft in edges.items():
        parents[child].append(parent)
        children[parent].append(child)
        if soft:
            soft_parents[child].add(parent)
    members: dict[str | None, list[str]] = {None: [], **{name: [] for name in index.loops}}
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


def _task_deps(task: TaskSpec) -> list[tuple[str, bool]]:
    deps = list(dict.fromkeys(task.dependencies))
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
