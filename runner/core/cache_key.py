"""The cache key of a step: what determines its outputs, and nothing else.

sha256 of the canonical JSON of the component digest (its code), the image,
the packages, the task's env, the resolved input parameter values, the
*content digests* of input artifacts (not their URIs: two runs that produce
identical data share the cache downstream; a ``Collected`` list of artifacts
contributes its list of digests, in iteration order), the component's
``cache_version`` and the key format version. Resources, retries, timeouts,
node selectors, the task and pipeline names are left out: they change where
and how a step runs, not what it computes. See ``docs/caching.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.events.models import ArtifactRef
from runner.spec.models import ComponentSpec, TaskSpec, canonical_json, sha256_hex

CACHE_KEY_VERSION = 1
"""Bump when the key's content or encoding changes: old manifests then miss."""


def effective_image(component: ComponentSpec, task: TaskSpec) -> str | None:
    """The image a step runs in: the task's override, else the component's."""
    if task.image:
        return task.image
    if component.image:
        return component.image
    return component.container.image if component.container else None


def compute_cache_key(
    component: ComponentSpec,
    task: TaskSpec,
    parameters: Mapping[str, Any],
    artifacts: Mapping[str, ArtifactRef | list[ArtifactRef]],
) -> str:
    """Hex sha256 of the step's inputs; raises ValueError for non-JSON values (NaN)."""
    material = {
        "key_version": CACHE_KEY_VERSION,
        "component": component.digest,
        "image": effective_image(component, task),
        # Declared order is kept: reordering packages may change what pip resolves.
        "packages": list(component.packages),
        "env": dict(task.env),
        "parameters": dict(parameters),
        "artifacts": {name: _digests(ref) for name, ref in artifacts.items()},
        "cache_version": component.cache_version,
    }
    return sha256_hex(canonical_json(material))


def _digests(ref: ArtifactRef | list[ArtifactRef]) -> str | list[str]:
    return [r.digest for r in ref] if isinstance(ref, list) else ref.digest
