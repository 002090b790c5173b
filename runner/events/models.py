"""Data models of each event kind — the ``data`` of the CloudEvent.

Parameter values ride inline (capped by :data:`MAX_INLINE_VALUE_BYTES`);
artifacts ride as :class:`ArtifactRef` references, never the bytes.
``runner events schema`` prints the JSON Schema of each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runner.events.kinds import EventKind

MAX_INLINE_VALUE_BYTES = 64 * 1024
"""Largest canonical-JSON size of one inline parameter value."""

JsonValue = Any


class _Data(BaseModel):
    # Validators are built on first use, not at import: a step process uses a few of
    # these models before it reports started, and every process imports all of them.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ArtifactRef(_Data):
    """Where an artifact lives and what it is: never the bytes."""

    uri: str
    digest: str
    """``sha256:<hex>`` of the content (of a directory: of its sorted file list)."""
    size: int
    kind: str = "Artifact"
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    layout: Literal["file", "dir"] = "file"
    """A single object, or a directory stored as objects under ``uri + '/'``."""


class ErrorInfo(_Data):
    """Why something failed, for humans and for automation."""

    reason: str
    """Short machine-readable cause: ``Exception``, ``Killed``, ``Timeout``,
    ``OOMKilled``, ``ExitCode``, ``LaunchFailed``, ``UpstreamFailed``..."""
    message: str
    type: str | None = None
    """Exception class of user code, when there is one."""
    traceback: str | None = None
    """The tail of the traceback (last lines), when there is one."""
    exit_code: int | None = None
    signal: int | None = None
    step: str | None = None


class CodeRef(_Data):
    """A content-addressed code package in the store."""

    uri: str
    digest: str


class RunRequested(_Data):
    pipeline: str
    pipeline_digest: str
    spec_uri: str
    """Store URI of the compiled spec (``pipelines/<name>/<digest>.json``)."""
    code: CodeRef | None = None
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    no_cache: bool = False
    experiment: str = "default"
    version: str | None = None
    requested_by: str = "cli"
    """``cli``, ``api``, ``trigger/<name>``, ``schedule/<name>``, ``rerun/<run>``."""
    labels: dict[str, str] = Field(default_factory=dict)


class RunStarted(_Data):
    pipeline_digest: str
    steps: int


class RunSucceeded(_Data):
    duration_seconds: float | None = None


class RunFailed(_Data):
    error: ErrorInfo
    duration_seconds: float | None = None


class RunCancelRequested(_Data):
    reason: str = "cancelled by user"
    requested_by: str = "cli"


class RunCancelled(_Data):
    reason: str = "cancelled by user"


class StepLaunched(_Data):
    attempt: int
    executor: str
    launch_id: str
    """Process id, Job name... whatever the executor uses to find it again."""
    cache_key: str | None = None


class StepStarted(_Data):
    attempt: int
    host: str | None = None
    pid: int | None = None


class StepSucceeded(_Data):
    attempt: int
    outputs: dict[str, ArtifactRef] = Field(default_factory=dict)
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    """Output parameter values (the return value) inline."""
    cache_key: str | None = None
    duration_seconds: float | None = None


class StepFailed(_Data):
    attempt: int
    error: ErrorInfo
    duration_seconds: float | None = None


class StepCached(_Data):
    cache_key: str
    outputs: dict[str, ArtifactRef] = Field(default_factory=dict)
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    producer_run: str
    producer_step: str
    created_at: datetime | None = None


class StepRetrying(_Data):
    attempt: int
    """The attempt that failed; the next one is ``attempt + 1``."""
    next_attempt: int
    delay_seconds: float
    retry_at: datetime
    error: ErrorInfo


class StepSkipped(_Data):
    reason: Literal["upstream_failed", "cancelled", "condition"]
    upstream: str | None = None
    message: str | None = None


class StepPending(_Data):
    """An attempt cannot start yet (no node fits, image not pulled...).

    Informational: the attempt fails with ``step.failed`` if it stays pending
    past the executor's grace period. One event per reason, so the id is
    ``<run>/<step>/<attempt>/step.pending/<reason>``."""

    attempt: int
    reason: str
    """``Unschedulable``, ``ErrImagePull``, ``ImagePullBackOff``,
    ``CreateContainerConfigError``..."""
    message: str
    """The scheduler's or kubelet's own words, e.g. ``0/3 nodes are available: ...``."""
    since: datetime | None = None


DATA_MODELS: dict[EventKind, type[_Data]] = {
    EventKind.RUN_REQUESTED: RunRequested,
    EventKind.RUN_STARTED: RunStarted,
    EventKind.RUN_SUCCEEDED: RunSucceeded,
    EventKind.RUN_FAILED: RunFailed,
    EventKind.RUN_CANCEL_REQUESTED: RunCancelRequested,
    EventKind.RUN_CANCELLED: RunCancelled,
    EventKind.STEP_LAUNCHED: StepLaunched,
    EventKind.STEP_STARTED: StepStarted,
    EventKind.STEP_SUCCEEDED: StepSucceeded,
    EventKind.STEP_FAILED: StepFailed,
    EventKind.STEP_CACHED: StepCached,
    EventKind.STEP_RETRYING: StepRetrying,
    EventKind.STEP_SKIPPED: StepSkipped,
    EventKind.STEP_PENDING: StepPending,
}
