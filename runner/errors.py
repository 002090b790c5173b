"""The project's one error tree.

Every failure a user or an operator can see is a :class:`RunnerError`. Retry
meaning lives in the type: :class:`TransientError` may succeed if tried again
(a broker hiccup, a throttled bucket), :class:`PermanentError` will not (bad
input, a missing object). Adapters wrap third-party exceptions into these with
``raise ... from exc`` so nothing from nats, botocore or kubernetes leaks into
core code or the CLI.

Messages name the thing, the cause and the fix, e.g.::

    component 'train': argument 'data' expects Input[Model] but got the
    Dataset output 'data' of task 'prepare' (pipeline.py:14). Pass a Model
    artifact, or change the annotation to Input[Dataset].
"""

from __future__ import annotations

__all__ = [
    "BusError",
    "CacheError",
    "CodePackageError",
    "CompileError",
    "ComponentError",
    "ConfigError",
    "EventError",
    "ExecutorError",
    "InvalidNameError",
    "NotFoundError",
    "PermanentError",
    "PipelineDefinitionError",
    "RunnerError",
    "StepError",
    "StoreError",
    "TransientError",
    "ValidationError",
]


class RunnerError(Exception):
    """Base of every error runner raises on purpose."""


class TransientError(RunnerError):
    """May succeed when tried again: a timeout, a lost connection, throttling."""


class PermanentError(RunnerError):
    """Will fail the same way again until the input or configuration changes."""


class ValidationError(PermanentError, ValueError):
    """A value given by a user (name, parameter, quantity, setting) is invalid."""


class InvalidNameError(ValidationError):
    """A name that would become part of a path or subject is not allowed."""


class ComponentError(ValidationError):
    """A component definition is unusable (no type hints, bad options...)."""


class PipelineDefinitionError(ValidationError):
    """A pipeline definition is wrong: bad wiring, cycle, missing argument."""


class CompileError(PipelineDefinitionError):
    """Raised while compiling a pipeline function into a spec."""


class ConfigError(PermanentError):
    """Settings are missing or contradictory."""


class NotFoundError(PermanentError, LookupError):
    """A run, step, object or pipeline does not exist."""


class StoreError(RunnerError):
    """The artifact store failed; see Transient/Permanent subclasses."""


class TransientStoreError(StoreError, TransientError):
    """The store is unreachable or throttling."""


class ObjectNotFoundError(StoreError, NotFoundError):
    """An object is missing from the store."""


class CodePackageError(PermanentError):
    """A code package cannot be built or imported."""


class CacheError(RunnerError):
    """A cache manifest is unreadable; callers treat it as a miss."""


class BusError(RunnerError):
    """The message bus failed."""


class BusUnavailableError(BusError, TransientError):
    """NATS cannot be reached."""


class EventError(PermanentError):
    """A message is not a valid runner CloudEvent."""


class ExecutorError(RunnerError):
    """An executor could not launch, watch or stop a step."""


class StepError(PermanentError):
    """User code in a step failed."""


__all__ += [
    "BusUnavailableError",
    "ObjectNotFoundError",
    "TransientStoreError",
]


class PermanentStoreError(StoreError, PermanentError):
    """The store refused for a reason retrying will not fix: a missing bucket,
    denied access, an invalid key or URI."""


__all__ += ["PermanentStoreError"]


class ConflictError(TransientError):
    """A compare-and-set lost a race (the value changed since it was read):
    reload it and try again."""


__all__ += ["ConflictError"]
