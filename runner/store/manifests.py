"""Cache manifests: what a cached step produced, stored at ``cache/<key[:2]>/<key>.json``.

A manifest is written once per cache key with create-if-absent (the first
finisher wins; later ones produced the same thing). Reading is forgiving by
design: a missing, truncated, corrupt or stale manifest is a cache *miss*,
never an error, because the cost of a miss is one recomputation while an
exception would fail a run. :func:`lookup` also checks that every output
object still exists with its recorded size, so a hit never points at
deleted data.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from runner.errors import ObjectNotFoundError, StoreError
from runner.events.models import ArtifactRef
from runner.spec.models import canonical_json
from runner.store.base import ArtifactStore
from runner.store.keys import cache_manifest_key

__all__ = [
    "CacheManifest",
    "delete_manifest",
    "list_manifests",
    "lookup",
    "prune",
    "read_manifest",
    "write_manifest",
]

log = logging.getLogger(__name__)

CACHE_PREFIX = "cache/"


class CacheManifest(BaseModel):
    """The outputs and output parameters a step produced for one cache key."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    cache_key: str
    outputs: dict[str, ArtifactRef] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Output parameter values (the return value), inline."""
    producer_run: str
    producer_step: str
    component: str
    created_at: datetime


async def write_manifest(store: ArtifactStore, manifest: CacheManifest) -> bool:
    """Create the manifest if none exists: ``True`` if this call wrote it."""
    key = cache_manifest_key(manifest.cache_key)
    return await store.put_if_absent(key, canonical_json(manifest.model_dump(mode="json")))


async def read_manifest(store: ArtifactStore, key: str) -> CacheManifest | None:
    """The manifest of cache key ``key``; ``None`` (a miss) if missing or unreadable."""
    object_key = cache_manifest_key(key)
    try:
        data = await store.get_bytes(object_key)
    except ObjectNotFoundError:
        return None
    return _parse(store, object_key, data, expected_key=key)


def _parse(
    store: ArtifactStore, object_key: str, data: bytes, *, expected_key: str | None
) -> CacheManifest | None:
    try:
        manifest = CacheManifest.model_validate_json(data)
    except pydantic.ValidationError as exc:
        log.warning(
            "cache manifest %s is corrupt or truncated; treating it as a miss (%s error(s): %s)",
            store.uri_for(object_key),
            exc.error_count(),
            exc.errors()[0]["msg"] if exc.error_count() else "",
        )
        return None
    if expected_key is not None and manifest.cache_key != expected_key:
        log.warning(
            "cache manifest %s records key %s; treating it as a miss",
            store.uri_for(object_key),
            manifest.cache_key,
        )
        return None
    return manifest


async def lookup(store: ArtifactStore, key: str) -> CacheManifest | None:
    """A verified hit: the manifest, if every output still exists with its size."""
    manifest = await read_manifest(store, key)
    if manifest is None:
        return None
    missing = await _missing_output(store, manifest)
    if missing is not None:
        log.info("cache key %s: output %r is gone; treating it as a miss", key, missing)
        return None
    return manifest


async def _missing_output(store: ArtifactStore, manifest: CacheManifest) -> str | None:
    """The name of the first output that is gone or changed size, else ``None``."""
    for name, ref in sorted(manifest.outputs.items()):
        try:
            object_key = store.key_for(ref.uri)
            if ref.layout == "dir":
                # A directory artifact is the objects under its prefix; its size is their sum.
                size = sum([info.size async for info in store.list(object_key + "/")])
            else:
                head = await store.head(object_key)
                size = head.size if head is not None else -1
        except (StoreError, ValueError):
            # Not in this store (moved, foreign URI) or unreadable: cannot be verified.
            return name
        if size != ref.size:
            return name
    return None


async def _scan(store: ArtifactStore) -> AsyncIterator[tuple[str, CacheManifest | None]]:
    """Every manifest object in the store: its key, and the manifest (None when it
    cannot be read; :func:`_parse` warns)."""
    async for info in store.list(CACHE_PREFIX):
        if not info.key.endswith(".json"):
            continue
        try:
            data = await store.get_bytes(info.key)
        except ObjectNotFoundError:
            continue  # deleted since listing
        yield info.key, _parse(store, info.key, data, expected_key=None)


async def list_manifests(store: ArtifactStore) -> AsyncIterator[CacheManifest]:
    """Every readable manifest in the store; unreadable ones are skipped with a warning."""
    async for _, manifest in _scan(store):
        if manifest is not None:
            yield manifest


async def delete_manifest(store: ArtifactStore, key: str) -> None:
    """Forget cache key ``key`` (its outputs stay: they belong to their run)."""
    await store.delete(cache_manifest_key(key))


async def prune(
    store: ArtifactStore,
    *,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[str]:
    """Remove manifests that are unreadable, whose outputs are gone, or that are
    older than ``older_than``; returns the cache keys removed (or, with
    ``dry_run``, that would be), in key order."""
    now = now or datetime.now(UTC)
    doomed: list[str] = []
    async for key, manifest in _scan(store):
        if manifest is None or await _stale(store, manifest, older_than, now):
            doomed.append(key)
    if not dry_run:
        for key in doomed:
            await store.delete(key)
    return [key.rsplit("/", 1)[-1].removesuffix(".json") for key in doomed]


async def _stale(
    store: ArtifactStore, manifest: CacheManifest, older_than: timedelta | None, now: datetime
) -> bool:
    created = manifest.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)  # written naive: assume UTC
    if older_than is not None and now - created > older_than:
        return True
    return await _missing_output(store, manifest) is not None
