"""What a trigger runs: a pipeline frozen when the trigger is added.

``path/to/pipeline.py[:func]`` is published to the store at add time
(:func:`~runner.records.pipelines.publish_pipeline`: compiled, its source
tree packed into a content-addressed code package), exactly as ``runner run``
does at submit time. The trigger stores only the reference
(:class:`~runner.records.pipelines.PipelineRef`), so later edits to the file
do not change what the trigger runs: add it again with ``--replace`` to pick
them up.

``name@version`` names an uploaded pipeline version. Resolving it is the job
of a :class:`~runner.records.pipelines.PipelineResolver` (the pipeline
registry); without one, such a target is refused with a clear message.
"""

from __future__ import annotations

from runner.dsl.loader import load_pipeline
from runner.errors import ValidationError
from runner.records.pipelines import (
    PipelineRef,
    PipelineResolver,
    is_pipeline_ref,
    parse_ref,
    publish_pipeline,
)
from runner.store.base import ArtifactStore

__all__ = ["freeze_pipeline"]


async def freeze_pipeline(
    target: str, store: ArtifactStore, *, registry: PipelineResolver | None = None
) -> PipelineRef:
    """The :class:`PipelineRef` for ``target``, its spec and code already in ``store``."""
    if is_pipeline_ref(target) and "@" in target:
        name, version = parse_ref(target)
        if registry is None:
            raise ValidationError(
                f"pipeline {target!r} names an uploaded pipeline version, but no pipeline "
                "registry is available here: give a file, path/to/pipeline.py[:func]"
            )
        return await registry.resolve(name, version)
    return await publish_pipeline(store, load_pipeline(target))
