"""Event kinds, subjects, types, sources and deterministic ids (DESIGN §4).

Subject: ``runner.events.<pipeline>.<run_id>.<kind>`` — the kind has two
tokens (``run.started``), so ``runner.events.iris.*.run.>`` selects every run
event of the ``iris`` pipeline. Pipeline and run ids are validated names
(``[a-z0-9][a-z0-9-]*``) so they can never add or swallow subject tokens.
"""

from __future__ import annotations

import re
from enum import StrEnum

from runner.errors import InvalidNameError

SUBJECT_PREFIX = "runner.events"
STREAM_SUBJECTS = f"{SUBJECT_PREFIX}.>"
DEAD_LETTER_SUBJECT = "runner.deadletter.events"
TYPE_PREFIX = "runner."

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_STEP = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}(\[[A-Za-z0-9_.=,-]{1,120}\])?$")


class EventKind(StrEnum):
    RUN_REQUESTED = "run.requested"
    RUN_STARTED = "run.started"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    RUN_CANCEL_REQUESTED = "run.cancel_requested"
    STEP_LAUNCHED = "step.launched"
    STEP_STARTED = "step.started"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_CACHED = "step.cached"
    STEP_RETRYING = "step.retrying"
    STEP_SKIPPED = "step.skipped"
    STEP_PENDING = "step.pending"

    @property
    def type(self) -> str:
        """CloudEvent ``type``: ``runner.<kind>``."""
        return TYPE_PREFIX + self.value

    @property
    def is_step(self) -> bool:
        return self.value.startswith("step.")

    @classmethod
    def from_type(cls, ce_type: str) -> EventKind:
        if not ce_type.startswith(TYPE_PREFIX):
            raise ValueError(f"not a runner event type: {ce_type!r}")
        return cls(ce_type[len(TYPE_PREFIX) :])


TERMINAL_RUN_KINDS = frozenset(
    {EventKind.RUN_SUCCEEDED, EventKind.RUN_FAILED, EventKind.RUN_CANCELLED}
)


SHOWN_NAME_CHARS = 64
"""How much of an invalid name an error message repeats."""


def shown_name(value: object) -> str:
    """``value`` as an error message shows it: its ``repr``, the first
    :data:`SHOWN_NAME_CHARS` characters only (and the length) when it is long, so
    a 10 kB "name" does not become a 10 kB log line."""
    if isinstance(value, str):
        if len(value) <= SHOWN_NAME_CHARS:
            return repr(value)
        return f"{value[:SHOWN_NAME_CHARS]!r}... ({len(value)} chars)"
    text = repr(value)
    return text if len(text) <= SHOWN_NAME_CHARS else f"{text[:SHOWN_NAME_CHARS]}..."


def validate_name(value: str, what: str) -> str:
    """Check a pipeline/run/output name: ``[a-z0-9][a-z0-9-]*``, at most 63 chars.

    Such a name is safe as a path segment and as one NATS subject token.
    """
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidNameError(
            f"{what} {shown_name(value)} is not a valid name: use 1-63 lowercase letters, digits "
            "and '-', starting with a letter or digit (no '/', '.', '*', '>' or spaces)"
        )
    return value


_IO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RESERVED_OUTPUT_NAMES = frozenset({"logs"})


def validate_io_name(value: str, what: str = "output") -> str:
    """An input/output name is a Python identifier (it is an argument name):
    safe as one path segment and never ``.``/``..``; ``logs`` is reserved for
    the step's log files beside its outputs."""
    if not isinstance(value, str) or not _IO_NAME.match(value):
        raise InvalidNameError(
            f"{what} {shown_name(value)} is not a valid name: use a Python identifier of at "
            "most 63 chars"
        )
    if value in RESERVED_OUTPUT_NAMES:
        raise InvalidNameError(
            f"{what} {value!r} is reserved (step logs are stored under it): rename the argument"
        )
    return value


def validate_step_name(value: str) -> str:
    """A step name is a task name, optionally with an iteration suffix ``[3]``."""
    if not isinstance(value, str) or not _STEP.match(value):
        raise InvalidNameError(
            f"step {shown_name(value)} is not a valid name: use lowercase letters, digits and '-' "
            "(an iteration suffix like '[3]' is allowed)"
        )
    return value


def subject_for(pipeline: str, run_id: str, kind: EventKind) -> str:
    validate_name(pipeline, "pipeline")
    validate_name(run_id, "run id")
    return f"{SUBJECT_PREFIX}.{pipeline}.{run_id}.{kind.value}"


def subject_filter(
    pipeline: str | None = None, run_id: str | None = None, kind: str | None = None
) -> str:
    """A subscription filter; ``None`` parts are wildcards. ``kind`` may be
    ``run``/``step`` (a family), a full kind, or ``None``."""
    p = validate_name(pipeline, "pipeline") if pipeline else "*"
    r = validate_name(run_id, "run id") if run_id else "*"
    if kind is None:
        return f"{SUBJECT_PREFIX}.{p}.{r}.>"
    if kind in ("run", "step"):
        return f"{SUBJECT_PREFIX}.{p}.{r}.{kind}.*"
    return f"{SUBJECT_PREFIX}.{p}.{r}.{EventKind(kind).value}"


def source_for(component: str) -> str:
    """CloudEvent ``source``: ``/runner/controller``, ``/runner/step``,
    ``/runner/trigger/<name>``."""
    return f"/runner/{component}"


def event_id(
    run_id: str, kind: EventKind, step: str | None = None, attempt: int | None = None
) -> str:
    """Deterministic id of a fact: ``<run>/<kind>`` or ``<run>/<step>/<attempt>/<kind>``.

    The same fact always gets the same id, so JetStream's dedup window and
    consumers drop duplicates.
    """
    if step is None:
        return f"{run_id}/{kind.value}"
    if attempt is None:
        return f"{run_id}/{step}/{kind.value}"
    return f"{run_id}/{step}/{attempt}/{kind.value}"
