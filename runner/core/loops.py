"""``ParallelFor`` at run time: items, iterations, parallelism and the loop's end.

When a loop instance is ready its items are read (a constant, a parameter,
an upstream output or an outer loop's item; anything but a list fails the
loop, naming where the value came from and its type) and the first
``parallelism`` iterations start. Starting iteration ``i`` creates the step
and loop states of the body for that iteration only — O(body) — and readies
the body's roots. Each node that finishes in an iteration counts down the
iteration's ``open`` entry; at zero the iteration is over and the next one
starts, so at most ``parallelism`` iterations are ever open and no event
looks at more than one iteration. When no iteration is open and none is left
(or the run is cancelling) the loop finishes: failed if anything in it
failed, which its hard children see like any failed parent.
"""

from __future__ import annotations

from typing import Any

from runner.core import flow, names
from runner.core.plan import LoopPlan, Node, TaskPlan
from runner.core.state import LoopState, RunStatus, StepState, StepStatus
from runner.core.transition import Transition
from runner.core.values import Frame
from runner.events.models import ErrorInfo
from runner.spec.bindings import TaskOutputInput
from runner.spec.conditions import render_value


def start(tr: Transition, name: str) -> None:
    """Start loop instance ``name``: resolve its items, open its first iterations."""
    base, indexes = names.split(name)
    plan = tr.plan.loops[base]
    frame = Frame(tr.plan, tr.state, indexes, who=name)
    items = frame.value(plan.loop.items)
    if isinstance(items, ErrorInfo):
        fail(tr, name, items)
        return
    if not isinstance(items, list):
        fail(tr, name, _not_a_list(plan, frame, items))
        return
    loop = tr.state.loops[name]
    loop.items = items
    loop.status = StepStatus.RUNNING
    if not items:
        _finish(tr, name, loop)
        return
    width = min(len(items), plan.loop.parallelism or len(items))
    for _ in range(width):
        # An iteration that ends at once (all skipped) has already opened the next.
        if loop.next < len(items):
            _open_iteration(tr, plan, loop, indexes)


def _open_iteration(
    tr: Transition, plan: LoopPlan, loop: LoopState, indexes: names.Indexes
) -> None:
    index = loop.next
    loop.next += 1
    inner = (*indexes, index)
    loop.open[index] = len(plan.body)
    for member in plan.body:
        node = tr.plan.node(member)
        instance = names.instance(member, inner)
        if isinstance(node, TaskPlan):
            tr.state.steps[instance] = StepState(waiting_on=len(node.parents))
        else:
            tr.state.loops[instance] = LoopState(waiting_on=len(node.parents))
    tr.state.unfinished += len(plan.body)
    for root in plan.body_roots:
        flow.ready(tr, names.instance(root, inner))


def close_iteration(
    tr: Transition,
    node: Node,
    indexes: names.Indexes,
    status: StepStatus,
    error: ErrorInfo | None,
) -> None:
    """Node ``node`` of the iteration ``indexes`` finished with ``status``."""
    assert node.scope is not None
    name = names.instance(node.scope, indexes[:-1])
    index = indexes[-1]
    loop = tr.state.loops[name]
    if status is StepStatus.FAILED and loop.error is None:
        loop.error = error
    loop.open[index] -= 1
    if loop.open[index]:
        return
    del loop.open[index]
    if tr.state.status is RunStatus.RUNNING and loop.next < len(loop.items or ()):
        _open_iteration(tr, tr.plan.loops[node.scope], loop, indexes[:-1])
    elif not loop.open:
        _finish(tr, name, loop)


def _finish(tr: Transition, name: str, loop: LoopState) -> None:
    if loop.error is not None:
        status = StepStatus.FAILED
    elif tr.state.status is RunStatus.CANCELLING:
        status = StepStatus.CANCELLED
    else:
        status = StepStatus.SUCCEEDED
    tr.finish_loop(name, status)
    flow.settle(tr, name)


def fail(tr: Transition, name: str, error: ErrorInfo) -> None:
    """The loop cannot start (unusable items, undecidable condition): it fails."""
    loop = tr.state.loops[name]
    loop.error = error
    flow.record_failure(tr, error)
    tr.finish_loop(name, StepStatus.FAILED)
    flow.settle(tr, name)


def _not_a_list(plan: LoopPlan, frame: Frame, items: Any) -> ErrorInfo:
    source = plan.loop.items
    if isinstance(source, TaskOutputInput):
        step = frame.step_of(source.task)
        what = f"output {source.output!r} of step {step!r}"
        fix = f"make {source.task!r} return a list"
    else:
        step = frame.who
        what = render_value(source)
        fix = "pass a list"
    text = repr(items)
    shown = text if len(text) <= 60 else text[:57] + "..."
    where = f" ({plan.loop.source})" if plan.loop.source else ""
    return ErrorInfo(
        reason="InvalidLoopItems",
        message=(
            f"ParallelFor {frame.who!r}{where} iterates over {what}, which is a "
            f"{type(items).__name__} ({shown}), not a list; {fix}"
        ),
        step=step,
    )
