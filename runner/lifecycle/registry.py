"""The pipeline registry: named, immutable versions of a pipeline, in the store.

Uploading publishes the pipeline as ``runner run`` does
(:func:`~runner.records.pipelines.publish_pipeline`: the spec at
``pipelines/<name>/<digest>.json``, its source tree as a content-addressed
code package) and then stores a small version record at
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
from datetime import UTC, datetime

from runner.dsl.loader import LoadedPipeline
from runner.errors import NotFoundError, ObjectNotFoundError, ValidationError
from runner.events.kinds import validate_name
from runner.records.pipelines import PipelineRef, parse_ref, publish_pipeline, validate_version
from runner.spec.models import PipelineSpec
from runner.store.base import ArtifactStore

__all__ = ["PipelineRegistry", "upload_pipeline", "version_key"]

PREFIX = "pipelines/"
DIGEST_VERSION_LENGTH = 12
"""Without ``--version``, the version is this many hex digits of the spec digest."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def version_key(name: str, version: str) -> str:
    return f"{PREFIX}{validate_name(name, 'pipeline')}/versions/{validate_version(version)}.json"


class PipelineRegistry:
    """Registered pipeline versions in one store.

    Also resolves ``name@version`` for triggers
    (a :class:`~runner.records.pipelines.PipelineResolver`).
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    async def register(self, record: PipelineRef) -> tuple[PipelineRef, bool]:
        """Create the version: (record, True); the same content there already is a
        no-op: (the registered record, False)."""
        if record.version is None or record.created_at is None:
            raise ValidationError(
                f"pipeline {record.name} has no version or upload time: register it with "
                "upload_pipeline, which sets both"
            )
        key = version_key(record.name, record.version)
        if await self.store.put_if_absent(key, record.model_dump_json(indent=2).encode()):
            return record, True
        existing = await self._read(key)
        if existing.same_content(record):
            return existing, False
        raise ValidationError(
            f"pipeline {record.name} version {record.version!r} already exists with other "
            f"content: registered spec {existing.digest[:12]} code {_short_code(existing)}, "
            f"this upload spec {record.digest[:12]} code {_short_code(record)}; versions "
            "are immutable: upload it under a new --version"
        )

    async def _read(self, key: str) -> PipelineRef:
        return PipelineRef.model_validate(await self.store.get_json(key))

    async def names(self) -> list[str]:
        """Every pipeline with at least one registered version, sorted."""
        found = set()
        async for info in self.store.list(PREFIX):
            parts = info.key.split("/")
            if len(parts) == 4 and parts[2] == "versions" and parts[3].endswith(".json"):
                found.add(parts[1])
        return sorted(found)

    async def versions(self, name: str) -> list[PipelineRef]:
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
        return sorted(records, key=lambda r: (r.created_at or _EPOCH, r.version or ""))

    async def get(self, name: str, version: str | None = None) -> PipelineRef:
        """A version of ``name``; the latest uploaded when ``version`` is None."""
        if version is None:
            return (await self.versions(name))[-1]
        try:
            return await self._read(version_key(name, version))
        except ObjectNotFoundError:
            known = ", ".join(v.version for v in await self.versions(name) if v.version)
            raise NotFoundError(
                f"pipeline {name} has no version {version!r} (its versions: {known})"
            ) from None

    async def lookup(self, ref: str) -> PipelineRef:
        """``name@version`` or ``name`` (the latest version)."""
        return await self.get(*parse_ref(ref))

    async def spec(self, record: PipelineRef) -> PipelineSpec:
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

    async def resolve(self, name: str, version: str | None = None) -> PipelineRef:
        """The frozen pipeline a trigger runs for ``name@version`` (``None``: the latest),
        with the parameters of its spec."""
        record = await self.get(name, version)
        spec = await self.spec(record)
        return record.model_copy(update={"parameters": list(spec.parameters)})


async def upload_pipeline(
    store: ArtifactStore,
    loaded: LoadedPipeline,
    *,
    version: str | None = None,
    description: str | None = None,
    now: datetime | None = None,
) -> tuple[PipelineRef, bool]:
    """Publish and register ``loaded``; returns the version record and whether it is new."""
    if version is not None:
        validate_version(version)
    published = await publish_pipeline(store, loaded)
    record = published.model_copy(
        update={
            "version": version or published.digest[:DIGEST_VERSION_LENGTH],
            "description": published.description if description is None else description,
            "created_at": now or datetime.now(UTC),
        }
    )
    return await PipelineRegistry(store).register(record)


def _short_code(record: PipelineRef) -> str:
    return record.code.digest.removeprefix("sha256:")[:12] if record.code else "none"
