"""The state of one run, as the controller persists it between events.

Pydantic v2 models, JSON-serialisable and compact when dumped with
``exclude_defaults=True`` (a pending step is ``{"waiting_on": 1}``), so the
state of a 10,000-step run stays small enough for one KV value.

The counters make every check O(1): ``waiting_on`` says when a step is ready,
``unfinished`` when the run is done, ``active`` which steps a cancellation
must stop, a loop's ``open`` when an iteration is over. They are kept exact
by :mod:`runner.core.scheduler` and checked against a full recount by the
tests.

Steps and loops of iterations are created when their iteration starts
(``train[3]`` when iteration 3 of its loop does), never up front: a loop over
1,000 items with ``parallelism=8`` has at most 8 iterations' steps running.

Models are mutable on purpose: ``decide`` updates the state it is given in
place (the shell passes a freshly loaded copy) instead of copying it per event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runner.core.actions import Action
from runner.events.models import ArtifactRef, CodeRef, ErrorInfo


class StepStatus(StrEnum):
    PENDING = "pending"
    """Waiting for parents (``waiting_on`` > 0)."""
    WAITING = "waiting"
    """In retry backoff: the next attempt launches at ``retry_at``."""
    LAUNCHING = "launching"
    """A launch action was issued; no executor event yet."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Never ran: an upstream failed or was skipped, its condition was false, or the
    run was cancelled first."""
    CANCELLED = "cancelled"
    """Was running when the run was cancelled and stopped."""

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STEP_STATUSES

    @property
    def done(self) -> bool:
        """Finished with outputs: children may use them."""
        return self in (StepStatus.SUCCEEDED, StepStatus.CACHED)


TERMINAL_STEP_STATUSES = frozenset(
    {
        StepStatus.SUCCEEDED,
        StepStatus.CACHED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.CANCELLED,
    }
)
ACTIVE_STEP_STATUSES = frozenset({StepStatus.WAITING, StepStatus.LAUNCHING, StepStatus.RUNNING})
"""Statuses of the steps listed in :attr:`RunState.active`."""


class RunStatus(StrEnum):
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepState(BaseModel):
    """Where one step stands. Defaults are the pending step, so they dump as nothing."""

    model_config = ConfigDict(extra="forbid")

    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    """The current attempt: 0 before the first launch; while ``waiting``, the next one."""
    waiting_on: int = 0
    """Parents not yet succeeded or cached; the step is ready at 0."""
    launch_id: str | None = None
    cache_key: str | None = None
    outputs: dict[str, ArtifactRef] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Output parameter values."""
    error: ErrorInfo | None = None
    """The last failure (also while waiting to retry); cleared on success."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retry_at: datetime | None = None
    cached: bool = False
    guarded_error: ErrorInfo | None = None
    """Exit handlers only: the first failure among the steps they guard."""
    lost: int = 0
    """Attempts lost to the machine or the controller (reason ``Lost``/``NodeLost``),
    relaunched without counting against the step's retry policy."""


class LoopState(BaseModel):
    """One instance of a ``ParallelFor`` (one per iteration of its enclosing loops)."""

    model_config = ConfigDict(extra="forbid")

    status: StepStatus = StepStatus.PENDING
    """Pending, running (iterating), then succeeded, failed, skipped or cancelled."""
    waiting_on: int = 0
    items: list[Any] | None = None
    """The resolved items, once the loop started."""
    next: int = 0
    """The index of the next iteration to start."""
    open: dict[int, int] = Field(default_factory=dict)
    """Started, unfinished iterations -> how many of their nodes are unfinished."""
    error: ErrorInfo | None = None
    """Why the loop failed: its items were unusable, or the first failure inside it."""
    finished_at: datetime | None = None


class RunState(BaseModel):
    """Everything the controller knows about one run."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    pipeline: str
    pipeline_digest: str
    spec_uri: str
    code: CodeRef | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Resolved pipeline parameters, defaults included."""
    no_cache: bool = False
    experiment: str = "default"
    version: str | None = None
    requested_by: str = "cli"
    labels: dict[str, str] = Field(default_factory=dict)
    status: RunStatus = RunStatus.RUNNING
    steps: dict[str, StepState] = Field(default_factory=dict)
    loops: dict[str, LoopState] = Field(default_factory=dict)
    """Loop instances by name (``for-loop-1``, ``for-loop-2[3]``)."""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: ErrorInfo | None = None
    """The first step failure (or why the run could not start)."""
    cancel_reason: str | None = None
    """Set by ``run.cancel_requested``; carried by ``run.cancelled``."""
    unfinished: int = 0
    """Steps and loops not yet in a terminal status; the run completes at 0."""
    active: dict[str, int] = Field(default_factory=dict)
    """Step -> attempt of every waiting, launching or running step (insertion-ordered)."""
    traceparent: str | None = None
    tracestate: str | None = None
    outbox: list[Action] = Field(default_factory=list)
    """Actions decided but not yet confirmed performed by the shell."""
