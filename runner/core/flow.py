"""What happens when a node finishes, and when one becomes ready.

A *node instance* is a step (``train``, ``train[3]``) or a loop instance
(``for-loop-1``, ``for-loop-2[3]``). When one finishes, :func:`settle` draws
the consequences, each in O(1) per child:

- each child in the same iteration counts one parent fewer if the edge is
  soft or the parent succeeded, and is :func:`ready` at zero; a hard child of
  a parent that failed or was skipped is skipped in turn (why travels along:
  ``upstream_failed``, ``condition`` or ``cancelled``);
- an exit handler child also learns the first failure among what it guards;
- the node's iteration, if it is in a loop, has one unfinished node fewer:
  at zero the iteration is over (:mod:`runner.core.loops`).

:func:`ready` evaluates the node's condition (false: skipped with reason
``condition``; undecidable: failed), then launches a step or starts a loop.
While the run is cancelling only exit handlers still start.

Consequences are drained from a queue on the :class:`Transition`, never by
recursion, and every node is settled once per run: the cost of an event is
the work it unlocks.
"""

from __future__ import annotations

from datetime import datetime

from runner.core import loops, names
from runner.core.actions import LaunchStep, launch_action_id
from runner.core.cache_key import compute_cache_key
from runner.core.conditions import evaluate
from runner.core.plan import Node, TaskPlan
from runner.core.resolve import NoBranch, StepInputs, resolve_inputs
from runner.core.state import RunStatus, StepState, StepStatus
from runner.core.transition import Transition
from runner.core.values import Frame
from runner.events.kinds import EventKind
from runner.events.models import ErrorInfo, StepFailed, StepSkipped
from runner.spec.conditions import render


def settle(tr: Transition, name: str, skipped: StepSkipped | None = None) -> None:
    """Draw the consequences of node instance ``name`` having finished."""
    tr.settling.append((name, skipped))
    if tr.draining:
        return
    tr.draining = True
    try:
        while tr.settling:
            _consequences(tr, *tr.settling.popleft())
    finally:
        tr.draining = False


def _consequences(tr: Transition, name: str, skipped: StepSkipped | None) -> None:
    base, indexes = names.split(name)
    node = tr.plan.node(base)
    if isinstance(node, TaskPlan):
        step = tr.state.steps[name]
        status, error = step.status, step.error
    else:
        loop = tr.state.loops[name]
        status, error = loop.status, loop.error
    passed = None if status.done else _skip_for_children(tr, name, status, skipped)
    suffix = names.suffix(indexes)
    for child in node.children:
        _parent_finished(tr, child + suffix, tr.plan.node(child), base, error, passed)
    if node.scope is not None:
        loops.close_iteration(tr, node, indexes, status, error)


def _skip_for_children(
    tr: Transition, name: str, status: StepStatus, skipped: StepSkipped | None
) -> StepSkipped:
    """Why the hard children of a node that did not succeed are skipped."""
    if skipped is not None:
        if skipped.upstream or skipped.reason == "cancelled":
            return skipped
        return skipped.model_copy(update={"upstream": name})
    if status is StepStatus.CANCELLED:
        return StepSkipped(reason="cancelled", message=f"run cancelled: {tr.state.cancel_reason}")
    what = "step" if name in tr.state.steps else "loop"
    return StepSkipped(
        reason="upstream_failed", upstream=name, message=f"upstream {what} {name!r} failed"
    )


def _parent_finished(
    tr: Transition,
    name: str,
    node: Node,
    parent: str,
    error: ErrorInfo | None,
    passed: StepSkipped | None,
) -> None:
    state = tr.state.steps[name] if isinstance(node, TaskPlan) else tr.state.loops[name]
    if passed is None or parent in node.soft_parents:
        state.waiting_on -= 1
        if passed is not None and isinstance(node, TaskPlan) and node.exit_handler:
            _guard(tr, tr.state.steps[name], error, passed)
        if state.waiting_on == 0 and state.status is StepStatus.PENDING:
            ready(tr, name, node)
    elif state.status is StepStatus.PENDING:
        skip(tr, name, passed, node)


def _guard(tr: Transition, handler: StepState, error: ErrorInfo | None, why: StepSkipped) -> None:
    """An exit handler keeps the first failure among what it guards, for its final status."""
    if handler.guarded_error is None and why.reason == "upstream_failed":
        # A failed node has its own error; one skipped below a failure, the run's first.
        handler.guarded_error = error or tr.state.error


def ready(tr: Transition, name: str, node: Node | None = None) -> None:
    """Node instance ``name`` (of plan node ``node``) has nothing left to wait for:
    start it, or skip or fail it."""
    base, indexes = names.split(name)
    node = node or tr.plan.node(base)
    exit_handler = isinstance(node, TaskPlan) and node.exit_handler
    if tr.state.status is not RunStatus.RUNNING and not exit_handler:
        reason = tr.state.cancel_reason
        skip(tr, name, StepSkipped(reason="cancelled", message=f"run cancelled: {reason}"))
        return
    if node.condition is not None:
        holds = evaluate(node.condition, Frame(tr.plan, tr.state, indexes, who=name))
        if isinstance(holds, ErrorInfo):
            _fail_unstarted(tr, name, node, holds)
            return
        if not holds:
            message = f"condition {render(node.condition)} is false"
            skip(tr, name, StepSkipped(reason="condition", message=message))
            return
    if isinstance(node, TaskPlan):
        launch(tr, name, attempt=1, task=node)
    else:
        loops.start(tr, name)


def skip(tr: Transition, name: str, why: StepSkipped, node: Node | None = None) -> None:
    """Skip a pending step (publishing ``step.skipped``) or loop instance."""
    if isinstance(node, TaskPlan) if node is not None else names.node_of(name) in tr.plan.tasks:
        tr.finish(name, StepStatus.SKIPPED)
        tr.publish(EventKind.STEP_SKIPPED, why, step=name)
    else:
        tr.finish_loop(name, StepStatus.SKIPPED)
    settle(tr, name, why)


def _fail_unstarted(tr: Transition, name: str, node: Node, error: ErrorInfo) -> None:
    if isinstance(node, TaskPlan):
        fail_unlaunched(tr, name, 1, error)
    else:
        loops.fail(tr, name, error)


def launch(
    tr: Transition,
    name: str,
    attempt: int,
    not_before: datetime | None = None,
    task: TaskPlan | None = None,
) -> None:
    """Emit a LaunchStep with resolved inputs, or fail the step if an input is missing.

    With ``not_before`` (a retry) the step waits; otherwise it is launching.
    """
    task = task or tr.plan.task_of_step(name)
    frame = Frame(tr.plan, tr.state, names.split(name)[1], who=name)
    inputs = resolve_inputs(task, frame)
    if isinstance(inputs, NoBranch):
        skip(tr, name, StepSkipped(reason="condition", message=inputs.message))
        return
    if isinstance(inputs, ErrorInfo):
        fail_unlaunched(tr, name, attempt, inputs)
        return
    status = StepStatus.LAUNCHING if not_before is None else StepStatus.WAITING
    step = tr.activate(name, status, attempt)
    step.cache_key = _cache_key(tr, task, inputs)
    tr.emit(
        LaunchStep(
            id=launch_action_id(tr.state.run_id, name, attempt),
            run_id=tr.state.run_id,
            pipeline=tr.state.pipeline,
            step=name,
            attempt=attempt,
            task=task.name,
            parameters=inputs.parameters,
            artifacts=inputs.artifacts,
            cache_key=step.cache_key,
            not_before=not_before,
        )
    )


def _cache_key(tr: Transition, task: TaskPlan, inputs: StepInputs) -> str | None:
    if tr.state.no_cache or not task.task.caching:
        return None
    try:
        return compute_cache_key(task.component, task.task, inputs.parameters, inputs.artifacts)
    except ValueError:
        # An upstream returned a non-JSON value (NaN): run the step, just uncached.
        return None


def fail_unlaunched(tr: Transition, name: str, attempt: int, error: ErrorInfo) -> None:
    """The step cannot even start (an input is missing): fail it without retrying.

    The controller publishes the ``step.failed`` itself; its echo finds the step
    already failed and changes nothing.
    """
    tr.state.steps[name].attempt = attempt
    tr.publish(
        EventKind.STEP_FAILED,
        StepFailed(attempt=attempt, error=error),
        step=name,
        attempt=attempt,
    )
    fail(tr, name, error)


def fail(tr: Transition, name: str, error: ErrorInfo, at: datetime | None = None) -> None:
    """Fail a step for good: record the run's error, skip its hard descendants."""
    step = tr.finish(name, StepStatus.FAILED, at)
    step.error = error
    record_failure(tr, error, exit_handler=tr.plan.task_of_step(name).exit_handler)
    settle(tr, name)


def record_failure(tr: Transition, error: ErrorInfo, *, exit_handler: bool = False) -> None:
    """Keep the run's first error; an exit handler's failure is added to it, not lost."""
    first = tr.state.error
    if first is None:
        tr.state.error = error
    elif exit_handler:
        message = f"{first.message}; then exit handler {error.step!r} failed too: {error.message}"
        tr.state.error = first.model_copy(update={"message": message})
