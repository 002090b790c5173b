"""Artifact types and the ``Input[T]`` / ``Output[T]`` markers of component signatures.

An artifact is a file (or directory) a step reads or writes, described by its
local ``path``, its store ``uri`` and free-form JSON ``metadata``. The classes
only carry those three things; the step runtime fills them in. ``Input[T]`` and
``Output[T]`` are :data:`typing.Annotated` aliases, so a static type checker
sees a plain ``T`` while the signature parser sees the direction.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from runner.errors import ValidationError
from runner.spec import ArtifactKind

__all__ = [
    "ARTIFACT_CLASSES",
    "Artifact",
    "Dataset",
    "Direction",
    "IOMarker",
    "Input",
    "Metrics",
    "Model",
    "Output",
]


class Artifact:
    """A generic artifact: ``.path`` to read/write, ``.uri`` in the store, ``.metadata``."""

    kind: ClassVar[ArtifactKind] = ArtifactKind.ARTIFACT

    def __init__(
        self,
        name: str = "",
        uri: str = "",
        path: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.uri = uri
        self.path = path
        self.metadata: dict[str, Any] = {} if metadata is None else metadata

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, "
            f"path={self.path!r}, metadata={self.metadata!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Artifact) or type(other) is not type(self):
            return NotImplemented
        return (self.name, self.uri, self.path, self.metadata) == (
            other.name,
            other.uri,
            other.path,
            other.metadata,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable value object


class Dataset(Artifact):
    """Data a step consumes or produces (a CSV, a Parquet directory...)."""

    kind: ClassVar[ArtifactKind] = ArtifactKind.DATASET


class Model(Artifact):
    """A trained model file or directory."""

    kind: ClassVar[ArtifactKind] = ArtifactKind.MODEL


class Metrics(Artifact):
    """Scalar metrics; ``log_metric`` records them in ``metadata`` (as in KFP)."""

    kind: ClassVar[ArtifactKind] = ArtifactKind.METRICS

    def log_metric(self, name: str, value: float) -> None:
        """Record ``metadata[name] = value``; the value must be a finite number."""
        if not isinstance(name, str) or not name:
            raise ValidationError(f"metric name must be a non-empty string, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(
                f"metric {name!r}: value must be an int or float, got "
                f"{type(value).__name__} {value!r}"
            )
        if not math.isfinite(value):
            raise ValidationError(
                f"metric {name!r}: value must be finite, got {value!r} (NaN and "
                "infinity are not JSON)"
            )
        self.metadata[name] = value


ARTIFACT_CLASSES: dict[ArtifactKind, type[Artifact]] = {
    cls.kind: cls for cls in (Artifact, Dataset, Model, Metrics)
}
"""The artifact class of each kind, for the step runtime."""

Direction = Literal["input", "output"]


class IOMarker:
    """The metadata ``Input``/``Output`` attach to an ``Annotated`` hint."""

    __slots__ = ("direction",)

    def __init__(self, direction: Direction) -> None:
        self.direction: Direction = direction

    def __repr__(self) -> str:
        return f"<{self.direction} artifact>"


_INPUT = IOMarker("input")
_OUTPUT = IOMarker("output")

T = TypeVar("T", bound=Artifact)

Input = Annotated[T, _INPUT]
"""``data: Input[Dataset]`` — an artifact the component reads."""

Output = Annotated[T, _OUTPUT]
"""``model: Output[Model]`` — an artifact the component writes to ``.path``."""
