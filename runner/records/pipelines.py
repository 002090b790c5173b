"""Publishing a pipeline to the store, and naming one: :class:`PipelineRef`, ``NAME@VERSION``.

:func:`publish_pipeline` compiles a pipeline, packs its source tree into a
content-addressed code package and stores both; the :class:`PipelineRef` it
returns is all a run needs later, whatever is on disk by then. ``runner run``
(:func:`runner.api.submit`), a trigger when it is added and the pipeline
registry when a version is uploaded all publish this way.

A registered version is named ``NAME@VERSION`` (``NAME`` alone: its latest
version); :func:`parse_ref` is the one parser of that syntax, and a
:class:`PipelineResolver` (the registry in :mod:`runner.lifecycle.registry`)
turns it into a :class:`PipelineRef`.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from runner.dsl.loader import LoadedPipeline
from runner.dsl.modules import module_location
from runner.dsl.pipeline import PipelineDefinition
from runner.errors import PipelineDefinitionError, ValidationError
from runner.events.kinds import validate_name
from runner.events.models import CodeRef
from runner.spec.models import ParameterDecl, PipelineSpec
from runner.store.base import ArtifactStore
from runner.store.codepkg import build_code_package, upload_code_package
from runner.store.keys import pipeline_spec_key

__all__ = [
    "PipelineRef",
    "PipelineResolver",
    "is_pipeline_ref",
    "parse_ref",
    "publish_pipeline",
    "source_root_of",
    "store_spec",
    "validate_version",
]

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REF_SHAPE = re.compile(r"^[a-z0-9][a-z0-9-]*(@.*)?$")
"""What tells ``NAME[@VERSION]`` from a file target; :func:`parse_ref` checks the parts."""


class PipelineRef(BaseModel):
    """A pipeline published to the store: its compiled spec and code package, and what it is.

    What a trigger runs (frozen when the trigger is added), what the registry
    records for a version (``version`` and ``created_at`` set) and what
    :func:`publish_pipeline` returns. Stored as JSON in trigger definitions and
    version records; unknown fields are ignored so older readers keep working.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    digest: str
    """sha256 of the compiled spec (the pipeline digest)."""
    spec_uri: str
    code: CodeRef | None = None
    version: str | None = None
    """The registered version (``runner pipeline upload``); None when published from a file."""
    source: str | None = None
    """The file it was compiled from: ``/abs/path.py:func``."""
    description: str | None = None
    parameters: list[ParameterDecl] = Field(default_factory=list)
    """The spec's parameter declarations, to check templates without loading the spec."""
    created_at: datetime | None = None
    """When the version was registered (version records only)."""

    @model_validator(mode="before")
    @classmethod
    def _from_origin(cls, data: Any) -> Any:
        """Trigger definitions stored before this type held ``version`` and ``source``
        say where the pipeline came from in ``origin`` alone."""
        if not isinstance(data, dict) or "origin" not in data:
            return data
        if "version" in data or "source" in data:
            return data
        fields = {k: v for k, v in data.items() if k != "origin"}
        kind, _, where = str(data["origin"]).partition(":")
        if kind == "registry":
            fields["version"] = where.partition("@")[2] or None
        elif kind == "file":
            fields["source"] = where
        return fields

    @computed_field  # type: ignore[prop-decorator]
    @property
    def origin(self) -> str | None:
        """Where it came from: ``file:/abs/path.py:func`` or ``registry:name@version``."""
        if self.version is not None:
            return f"registry:{self.ref}"
        return f"file:{self.source}" if self.source else None

    @property
    def ref(self) -> str:
        """``name@version`` (just the name when it is no registered version)."""
        return f"{self.name}@{self.version}" if self.version else self.name

    def same_content(self, other: PipelineRef) -> bool:
        """The same spec and the same code package."""
        return self.digest == other.digest and _code(self) == _code(other)


def _code(ref: PipelineRef) -> str | None:
    return ref.code.digest if ref.code else None


class PipelineResolver(Protocol):
    """Finds a registered pipeline version (``None``: the latest) in the store."""

    async def resolve(self, name: str, version: str | None = None) -> PipelineRef: ...


def validate_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.match(version) or ".." in version:
        raise ValidationError(
            f"version {version!r} is not a valid version name: use 1-64 letters, digits, "
            "'.', '_' and '-', starting with a letter or digit (no '..'), e.g. v1 or 2026.11.1"
        )
    return version


def is_pipeline_ref(target: str) -> bool:
    """Whether ``target`` is shaped like ``NAME`` or ``NAME@VERSION`` rather than like a
    file (``path/to/pipeline.py[:func]``); :func:`parse_ref` then checks each part."""
    return not target.partition(":")[0].endswith(".py") and bool(_REF_SHAPE.match(target))


def parse_ref(text: str) -> tuple[str, str | None]:
    """``iris@v2`` -> ("iris", "v2"); ``iris`` -> ("iris", None): the latest version."""
    name, at, version = text.strip().partition("@")
    if not name or (at and not version):
        raise ValidationError(f"{text!r} is not NAME or NAME@VERSION (e.g. iris@v2)")
    validate_name(name, "pipeline")
    return name, validate_version(version) if at else None


def source_root_of(definition: PipelineDefinition) -> Path:
    """The directory whose tree is shipped as the pipeline's code package:
    above the top-most package holding the pipeline's module, else its own."""
    source = _source_file(definition)
    if source is None:
        raise PipelineDefinitionError(
            f"pipeline '{definition.name}' has no source file: define it in a .py file"
        )
    return module_location(source)[0]


def _source_file(definition: PipelineDefinition) -> Path | None:
    source = inspect.getsourcefile(definition.fn)
    return None if source is None else Path(source)


async def store_spec(store: ArtifactStore, spec: PipelineSpec) -> str:
    """Put the spec at ``pipelines/<name>/<digest>.json`` (immutable); return its URI."""
    key = pipeline_spec_key(spec.name, spec.digest())
    await store.put_if_absent(key, spec.canonical_json())
    return store.uri_for(key)


async def publish_pipeline(
    store: ArtifactStore,
    pipeline: PipelineDefinition | LoadedPipeline,
    *,
    source_root: Path | None = None,
    spec: PipelineSpec | None = None,
) -> PipelineRef:
    """Compile ``pipeline``, pack its source tree into a code package, store both.

    ``source_root``: the tree to pack (default: the loaded file's, or
    :func:`source_root_of`); ``spec``: the pipeline compiled already, so it is
    not compiled twice. Specs and code packages are content-addressed, so
    publishing the same pipeline again stores nothing new.
    """
    file: Path | None
    if isinstance(pipeline, LoadedPipeline):
        definition, file = pipeline.pipeline, pipeline.file
        root = source_root or pipeline.source_root
    else:
        definition, file = pipeline, _source_file(pipeline)
        root = source_root or source_root_of(pipeline)
    if spec is None:
        spec = definition.compile()
    package = await asyncio.to_thread(build_code_package, root)
    code = await upload_code_package(store, package)
    return PipelineRef(
        name=spec.name,
        digest=spec.digest(),
        spec_uri=await store_spec(store, spec),
        code=code,
        source=None if file is None else f"{file}:{definition.fn.__name__}",
        description=spec.description,
        parameters=list(spec.parameters),
    )
