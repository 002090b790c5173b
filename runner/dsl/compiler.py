"""Compiling a pipeline definition into a :class:`~runner.spec.PipelineSpec`.

The pipeline function runs once with a :class:`PipelineBuilder` current;
the tasks it creates are then checked as a whole (one component per name, no
cycles) and written out in a topological order whose ties follow creation
order, so the same source always gives the same spec and digest.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from runner.dsl.builder import PipelineBuilder, building
from runner.dsl.refs import PipelineParameter, TaskOutput
from runner.dsl.sources import raise_location
from runner.dsl.task import PipelineTask
from runner.errors import CompileError, RunnerError
from runner.spec import (
    ComponentSpec,
    ConstantInput,
    InputBinding,
    PipelineParameterInput,
    PipelineSpec,
    TaskOutputInput,
    TaskSpec,
)

if TYPE_CHECKING:
    from runner.dsl.binding import Binding
    from runner.dsl.pipeline import PipelineDefinition

__all__ = ["compile_definition"]


def compile_definition(defn: PipelineDefinition) -> PipelineSpec:
    builder = PipelineBuilder(defn.name)
    params = {
        name: PipelineParameter(name, ptype, builder)
        for name, ptype in defn.parameter_types().items()
    }
    with building(builder):
        try:
            defn.fn(**params)
        except RunnerError:
            raise
        except Exception as exc:
            where = raise_location(exc, defn.fn.__code__.co_filename) or "<unknown>"
            raise CompileError(
                f"pipeline '{defn.name}' failed while compiling ({where}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    if not builder.tasks:
        raise CompileError(
            f"pipeline '{defn.name}' creates no tasks; call components inside its function"
        )
    return PipelineSpec(
        name=defn.name,
        description=defn.description,
        parameters=list(defn.parameters),
        components=_components(builder.tasks),
        tasks=[_task_spec(task) for task in _topological(builder.tasks)],
    )


def _components(tasks: list[PipelineTask]) -> dict[str, ComponentSpec]:
    """Each component by name; two different components may not share a name."""
    components: dict[str, ComponentSpec] = {}
    first_use: dict[str, PipelineTask] = {}
    for task in tasks:
        spec = task.component.spec
        known = components.get(spec.name)
        if known is None:
            components[spec.name] = spec
            first_use[spec.name] = task
        elif known != spec:
            other = first_use[spec.name]
            raise CompileError(
                f"two different components are named '{spec.name}': "
                f"{known.entrypoint or 'a container component'} (task '{other.name}', "
                f"{other.source}) and {spec.entrypoint or 'a container component'} "
                f"(task '{task.name}', {task.source}); give one of them another name"
            )
    return dict(sorted(components.items()))


def _topological(tasks: list[PipelineTask]) -> list[PipelineTask]:
    """Kahn's algorithm; among ready tasks the earliest created goes first."""
    index = {task: i for i, task in enumerate(tasks)}
    upstream = {task: task.upstream() for task in tasks}
    downstream: dict[PipelineTask, list[PipelineTask]] = {task: [] for task in tasks}
    for task, ups in upstream.items():
        for up in ups:
            downstream[up].append(task)
    waiting = {task: len(ups) for task, ups in upstream.items()}
    ready = [index[task] for task in tasks if waiting[task] == 0]
    heapq.heapify(ready)
    order: list[PipelineTask] = []
    while ready:
        task = tasks[heapq.heappop(ready)]
        order.append(task)
        for down in downstream[task]:
            waiting[down] -= 1
            if waiting[down] == 0:
                heapq.heappush(ready, index[down])
    if len(order) != len(tasks):
        raise CompileError(_cycle_message([t for t in tasks if waiting[t] > 0], upstream))
    return order


def _cycle_message(
    stuck: list[PipelineTask], upstream: dict[PipelineTask, set[PipelineTask]]
) -> str:
    """Name one cycle among the tasks that never became ready."""
    remaining = set(stuck)
    path = [stuck[0]]
    while True:
        step = min(
            (up for up in upstream[path[-1]] if up in remaining),
            key=stuck.index,
        )
        if step in path:
            cycle = [*path[path.index(step) :], step]
            break
        path.append(step)
    cycle.reverse()  # upstream edges walked backwards; show the run order
    chain = " -> ".join(f"'{t.name}' ({t.source})" for t in cycle)
    return (
        f"dependency cycle: {chain}; a task cannot (indirectly) wait for itself — remove "
        "one of the .after() calls or data dependencies"
    )


def _task_spec(task: PipelineTask) -> TaskSpec:
    return TaskSpec(
        name=task.name,
        component=task.component.name,
        inputs={name: _input(binding) for name, binding in task.arguments.items()},
        dependencies=sorted(up.name for up in task.upstream()),
        resources=task.resources,
        retry=task.retry,
        timeout_seconds=task.timeout_seconds,
        env=dict(sorted(task.env.items())),
        caching=task.caching,
        image=task.image,
        kubernetes=task.kubernetes,
        source=task.source,
    )


def _input(binding: Binding) -> InputBinding:
    if isinstance(binding, ConstantInput):
        return binding
    if isinstance(binding, PipelineParameter):
        return PipelineParameterInput(parameter=binding.name)
    assert isinstance(binding, TaskOutput)
    return TaskOutputInput(task=binding.task.name, output=binding.name)
