"""The functional core: run state, actions, the scheduler ``decide`` (control
flow included: conditions, loops, exit handlers), input resolution and cache
keys. Pure and synchronous — no I/O, no asyncio, no clock
reads (time comes in as ``now``); the controller performs what it decides."""

from runner.core.actions import (
    Action,
    LaunchStep,
    PublishEvent,
    StopStep,
    complete_actions,
    pending_actions,
)
from runner.core.cache_key import CACHE_KEY_VERSION, compute_cache_key, effective_image
from runner.core.plan import BoundInput, LoopPlan, Plan, TaskPlan
from runner.core.resolve import (
    ParameterResult,
    StepInputs,
    resolve_inputs,
    resolve_parameters,
)
from runner.core.scheduler import Decision, decide
from runner.core.state import (
    ACTIVE_STEP_STATUSES,
    TERMINAL_STEP_STATUSES,
    LoopState,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
)

__all__ = [
    "ACTIVE_STEP_STATUSES",
    "CACHE_KEY_VERSION",
    "TERMINAL_STEP_STATUSES",
    "Action",
    "BoundInput",
    "Decision",
    "LaunchStep",
    "LoopPlan",
    "LoopState",
    "ParameterResult",
    "Plan",
    "PublishEvent",
    "RunState",
    "RunStatus",
    "StepInputs",
    "StepState",
    "StepStatus",
    "StopStep",
    "TaskPlan",
    "compute_cache_key",
    "complete_actions",
    "decide",
    "effective_image",
    "pending_actions",
    "resolve_inputs",
    "resolve_parameters",
]
