"""What a trigger runs: a pipeline frozen when the trigger is added.

``path/to/pipeline.py[:func]`` is compiled, its source tree packed into a
content-addressed code package, and both are put in the store at add time,
exactly as ``runner run`` does at submit time. The trigger stores only the
references (:class:`~runner.triggers.models.PipelineRef`), so later edits to
the file do not change what the trigger runs: add it again with
``--replace`` to pick them up.

``name@version`` names an uploaded pipeline version. Resolving it is the job
of a :class:`PipelineRegistry` (the pipeline registry of issue #9 plugs in
here); without one, such a target is refused with a clear message.
"""

from __future__ import annotations

import asyncio
import re
from typing import Protocol

from runner.api import store_spec
from runner.dsl.loader import load_pipeline
from runner.errors import ValidationError
from runner.store.base import ArtifactStore
from runner.store.codepkg import build_code_package, upload_code_package
from runner.triggers.models import PipelineRef

__all__ = ["PipelineRegistry", "freeze_pipeline"]

_REGISTERED = re.compile(r"^([a-z0-9][a-z0-9-]*)@([A-Za-z0-9][A-Za-z0-9._-]*)$")


class PipelineRegistry(Protocol):
    """Resolves an uploaded pipeline version to its spec and code package."""

    async def resolve(self, name: str, version: str) -> PipelineRef: ...


async def freeze_pipeline(
    target: str, store: ArtifactStore, *, registry: PipelineRegistry | None = None
) -> PipelineRef:
    """The :class:`PipelineRef` for ``target``, its spec and code already in ``store``."""
    registered = _REGISTERED.match(target)
    if registered and not target.endswith(".py"):
        if registry is None:
            raise ValidationError(
                f"pipeline {target!r} names an uploaded pipeline version, but no pipeline "
                "registry is available here: give a file, path/to/pipeline.py[:func]"
            )
        return await registry.resolve(registered[1], registered[2])
    loaded = load_pipeline(target)
    spec = loaded.pipeline.compile()
    package = await asyncio.to_thread(build_code_package, loaded.source_root)
    code = await upload_code_package(store, package)
    spec_uri = await store_spec(store, spec)
    function = loaded.pipeline.fn.__name__
    return PipelineRef(
        name=spec.name,
        digest=spec.digest(),
        spec_uri=spec_uri,
        code=code,
        origin=f"file:{loaded.file}:{function}",
        parameters=list(spec.parameters),
    )
