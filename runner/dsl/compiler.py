"""Compiling a pipeline definition into a :class:`~runner.spec.PipelineSpec`.

The pipeline function runs once with a :class:`PipelineBuilder` current;
the tasks it creates are then checked as a whole (one component per name, no
cycles) and written out in a topological order whose ties follow creation
order, so the same source always gives the same spec and digest. Control
flow becomes data: each task's loop and condition, ``LoopSpec`` entries for
the ``ParallelFor`` blocks, and the bindings of loop items, ``Collected``,
``OneOf`` and final statuses. Last, the spec gets the checks the controller
runs before it indexes one (:func:`runner.spec.checks.check_spec`), so a spec
that compiles can be scheduled.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from runner.dsl.builder import PipelineBuilder, building
from runner.dsl.conditions import ConditionExpr
from runner.dsl.fanin import Collected, OneOf
from runner.dsl.refs import LoopItem, PipelineParameter, TaskOutput
from runner.dsl.sources import raise_location
from runner.dsl.task import PipelineTask
from runner.errors import CompileError, PipelineDefinitionError, RunnerError
from runner.spec import (
    AllOf,
    CollectedInput,
    ComponentSpec,
    Condition,
    ConstantInput,
    FinalStatusInput,
    InputBinding,
    LoopItemInput,
    LoopSpec,
    OneOfInput,
    PipelineParameterInput,
    PipelineSpec,
    TaskOutputInput,
    TaskSpec,
)
from runner.spec.checks import check_spec

if TYPE_CHECKING:
    from runner.dsl.binding import Binding
    from runner.dsl.loops import ParallelFor
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
    _check_final_status(builder.tasks)
    spec = PipelineSpec(
        name=defn.name,
        description=defn.description,
        parameters=list(defn.parameters),
        components=_components(builder.tasks),
        tasks=[_task_spec(task) for task in _topological(builder.tasks)],
        loops=[_loop_spec(loop) for loop in builder.loops],
    )
    try:
        check_spec(spec)
    except PipelineDefinitionError as exc:
        raise CompileError(f"pipeline '{defn.name}' cannot be scheduled: {exc}") from None
    return spec


def _check_final_status(tasks: list[PipelineTask]) -> None:
    for task in tasks:
        for arg in task.component.signature.arguments:
            if arg.final_status and arg.name not in task.arguments:
                raise CompileError(
                    f"task '{task.name}' ({task.source}): argument '{arg.name}' is a "
                    "PipelineTaskFinalStatus, which only an ExitHandler's exit task "
                    f"receives; use it as `with ExitHandler({task.name}):`"
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
    upstream = {task: task.order_after() for task in tasks}
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
        loop=task.loops[-1].name if task.loops else None,
        condition=_all(task.conditions),
        ignore_upstream_failure=task.ignores_upstream_failure,
        exit_handler=task.exit_handler,
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


def _loop_spec(loop: ParallelFor) -> LoopSpec:
    producers = loop.producers | loop.condition_tasks
    return LoopSpec(
        name=loop.name,
        items=loop.items,
        parallelism=loop.parallelism,
        loop=loop.outer[-1].name if loop.outer else None,
        condition=_all(loop.conditions),
        dependencies=sorted(t.name for t in producers),
        source=loop.source,
    )


def _all(conditions: list[ConditionExpr]) -> Condition | None:
    """The conjunction of nested blocks' conditions (None outside any)."""
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0].condition
    parts: list[Condition] = []
    for c in conditions:
        parts += c.condition.conditions if isinstance(c.condition, AllOf) else [c.condition]
    return AllOf(conditions=parts)


def _input(binding: Binding) -> InputBinding:
    if isinstance(binding, ConstantInput | FinalStatusInput):
        return binding
    if isinstance(binding, PipelineParameter):
        return PipelineParameterInput(parameter=binding.name)
    if isinstance(binding, LoopItem):
        return LoopItemInput(loop=binding._loop.name, path=list(binding._path))
    if isinstance(binding, Collected):
        return CollectedInput(task=binding.task.name, output=binding.output.name)
    if isinstance(binding, OneOf):
        options = [TaskOutputInput(task=o.task.name, output=o.name) for o in binding.options]
        return OneOfInput(options=options)
    assert isinstance(binding, TaskOutput)
    return TaskOutputInput(task=binding.task.name, output=binding.name)
