"""The pipeline registry: named, immutable versions of a pipeline, in the store.

Uploading compiles the pipeline, packs its source tree (the same
content-addressed code package ``runner run`` ships), stores the spec at
``pipelines/<name>/<digest>.json`` and then a small version record at
``pipelines/<name>/versions/<version>.json``, created only if absent. A
version is the pair (spec digest, code digest): uploading the same pair
under an existing version is a no-op, a different one is refused with both
digests. Running a version uses its own spec and code package, whatever is
on disk later.

The records live in the store, beside the specs and code they point to, so
the registry needs no server and moves with the store (file or S3).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from runner.api import store_spec
from runner.dsl.loader import LoadedPipeline
from runner.errors import NotFoundError, ObjectNotFoundError, ValidationError
from runner.events.kinds import validate_name
from runner.events.models import CodeRef
from runner.spec.models import PipelineSpec
from runner.store.base import ArtifactStore
from runner.store.codepkg import build_code_package, upload_code_package
from runner.triggers.models import PipelineRef

__all__ = [
    "PipelineRegistry",
    "PipelineVersion",
    "parse_ref",
    "upload_pipeline",
    "validate_version",
]

PREFIX = "pipelines/"
DIGEST_VERSION_LENGTH = 12
"""Without ``--version``, the version is this many hex digits of the spec digest."""

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REF = re.compile(r"^([^@]+)(?:@(.*))?$")


def validate_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.match(version) or ".." in version:
        raise ValidationError(
            f"version {version!r} is not a valid version name: use 1-64 letters, digits, "
            "'.', '_' and '-', starting with a letter or digit (no '..'), e.g. v1 or 2026.11.1"
        )
    return version


def parse_ref(text: str) -> tuple[str, str | None]:
    """``iris@v2`` -> ("iris", "v2"); ``iris`` -> ("iris", None): the latest version."""
    match = _REF.match(text.strip())
    if match is None or (match[2] is not None and not match[2]):
        raise ValidationError(f"{text!r} is not NAME or NAME@VERSION (e.g. iris@v2)")
    name = validate_name(match[1], "pipeline")
    return name, validate_version(match[2]) if match[2] is not None else None


class PipelineVersion(BaseModel):
    """One registered version: where its spec and code are, and what it is."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    version: str
    digest: str
    """sha256 of the compiled spec (the pipeline digest)."""
    spec_uri: str
    code: CodeRef | None = None
    description: str | None = None
    source: str | None = None
    """Where it was uploaded from: ``/abs/path.py:func``."""
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def same_content(self, other: PipelineVersion) -> bool:
        return self.digest == other.digest and _code(self) == _code(other)


def _code(version: PipelineVersion) -> str | None:
    return version.code.digest if version.code else None


def version_key(name: str, version: str) -> str:
    return f"{PREFIX}{validate_name(name, 'pipeline')}/versions/{validate_version(version)}.json"


class PipelineRegistry:
    """Registered pipeline versions in one store.

    Also resolves ``name@version`` for triggers
    (:class:`runner.triggers.pipelines.PipelineRegistry`).
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    async def register(self, record: PipelineVersion) -> tuple[PipelineVersion, bool]:
        """Create the version: (record, True); the same content there already is a
        no-op: (the registered record, False)."""
        key = version_key(record.name, record.version)
        if await self.store.put_if_absent(key, record.model_dump_json(indent=2).encode()):
            return record, True
        existing = await self._read(key)
        if existing.same_content(record):
            return existing, False
        raise ValidationError(
            f"pipeline {record.name} version {record.version!r} already exists with other "
            f"content: registered spec {existing.digest[:12]} code {_short(_code(existing))}, "
            f"this upload spec {record.digest[:12]} code {_short(_code(record))}; versions "
            "are immutable: upload it under a new --version"
        )

    async def _read(self, key: str) -> PipelineVersion:
        return PipelineVersion.model_validate(await self.store.get_json(key))

    async def names(self) -> list[str]:
        """Every pipeline with at least one registered version, sorted."""
        found = set()
        async for info in self.store.list(PREFIX):
            parts = info.key.split("/")
            if len(parts) == 4 and parts[2] == "versions" and parts[3].endswith(".json"):
                found.add(parts[1])
        return sorted(found)

    async def versions(self, name: str) -> list[PipelineVersion]:
        """The versions of ``name``, oldest first; NotFoundError if it has none."""
        prefix = f"{PREFIX}{validate_name(name, 'pipeline')}/versions/"
        keys = [info.key async for info in self.store.list(prefix) if info.key.endswith(".json")]
        records = await asyncio.gather(*(self._read(k) for k in keys))
        if not records:
            known = ", ".join(await self.names()) or "none"
            raise NotFoundError(
                f"pipeline {name!r} is not registered (registered pipelines: {known}); "
                f"upload it with `runner pipeline upload path/to/pipeline.py --version v1`"
            )
        return sorted(records, key=lambda r: (r.created_at, r.version))

    async def get(self, name: str, version: str | None = None) -> PipelineVersion:
        """A version of ``name``; the latest uploaded when ``version`` is None."""
        if version is None:
            return (await self.versions(name))[-1]
        try:
            return await self._read(version_key(name, version))
        except ObjectNotFoundError:
            known = ", ".join(v.version for v in await self.versions(name))
            raise NotFoundError(
                f"pipeline {name} has no version {version!r} (its versions: {known})"
            ) from None

    async def lookup(self, ref: str) -> PipelineVersion:
        """``name@version`` or ``name`` (the latest version)."""
        return await self.get(*parse_ref(ref))

    async def spec(self, record: PipelineVersion) -> PipelineSpec:
        spec = PipelineSpec.model_validate(
            await self.store.get_json(self.store.key_for(record.spec_uri))
        )
        if spec.digest() != record.digest:
            raise ValidationError(
                f"the spec of {record.ref} at {record.spec_uri} no longer has digest "
                f"{record.digest[:12]}: the store was modified; upload the version again "
                "under a new name"
            )
        return spec

    async def resolve(self, name: str, version: str) -> PipelineRef:
        """The frozen pipeline a trigger runs for ``name@version``."""
        record = await self.get(name, version)
        spec = await self.spec(record)
        return PipelineRef(
            name=record.name,
            digest=record.digest,
            spec_uri=record.spec_uri,
            code=record.code,
            origin=f"registry:{record.ref}",
            parameters=list(spec.parameters),
        )


async def upload_pipeline(
    store: ArtifactStore,
    loaded: LoadedPipeline,
    *,
    version: str | None = None,
    description: str | None = None,
    now: datetime | None = None,
) -> tuple[PipelineVersion, bool]:
    """Compile, package and register ``loaded``; returns the record and whether it is new."""
    if version is not None:
        validate_version(version)
    spec = loaded.pipeline.compile()
    package = await asyncio.to_thread(build_code_package, loaded.source_root)
    code = await upload_code_package(store, package)
    record = PipelineVersion(
        name=spec.name,
        version=version or spec.digest()[:DIGEST_VERSION_LENGTH],
        digest=spec.digest(),
        spec_uri=await store_spec(store, spec),
        code=code,
        description=description if description is not None else spec.description,
        source=f"{loaded.file}:{loaded.pipeline.fn.__name__}",
        created_at=now or datetime.now(UTC),
    )
    return await PipelineRegistry(store).register(record)


def _short(digest: str | None) -> str:
    return digest.removeprefix("sha256:")[:12] if digest else "none"
