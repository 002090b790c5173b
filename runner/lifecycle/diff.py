"""What changed between two pipeline versions: digests, parameters, components, tasks.

Pure: two specs (and their code digests) in, a :class:`SpecDiff` out. A
component has changed when its digest (its source, or its image and
command) or its declaration (image, packages, inputs, outputs...) did; a
task when its own fields did (bindings, dependencies, resources...), and
:attr:`SpecDiff.affected` names the tasks whose component changed under an
unchanged task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from runner.spec.models import PipelineSpec

__all__ = ["Changes", "SpecDiff", "diff_specs"]


@dataclass(frozen=True)
class Changes:
    """Added, removed and changed names of one kind; ``changed`` says which fields."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


@dataclass(frozen=True)
class SpecDiff:
    old: str
    new: str
    digests: dict[str, tuple[str | None, str | None]]
    """``pipeline`` and ``code`` digests that differ: name -> (old, new)."""
    parameters: Changes
    components: Changes
    tasks: Changes
    affected: dict[str, str]
    """Task -> its component, for unchanged tasks whose component changed."""

    @property
    def identical(self) -> bool:
        return not (self.digests or self.parameters or self.components or self.tasks)

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "identical": self.identical,
            "digests": {k: {"old": a, "new": b} for k, (a, b) in self.digests.items()},
            "parameters": self.parameters.to_json(),
            "components": self.components.to_json(),
            "tasks": self.tasks.to_json(),
            "affected_tasks": self.affected,
        }


def diff_specs(
    old: PipelineSpec,
    new: PipelineSpec,
    *,
    old_label: str = "old",
    new_label: str = "new",
    old_code: str | None = None,
    new_code: str | None = None,
) -> SpecDiff:
    digests: dict[str, tuple[str | None, str | None]] = {}
    if old.digest() != new.digest():
        digests["pipeline"] = (old.digest(), new.digest())
    if old_code != new_code:
        digests["code"] = (old_code, new_code)
    components = _compare(old.components, new.components)
    tasks = _compare({t.name: t for t in old.tasks}, {t.name: t for t in new.tasks})
    changed_components = set(components.changed)
    affected = {
        t.name: t.component
        for t in new.tasks
        if t.component in changed_components
        and t.name not in tasks.changed
        and t.name not in tasks.added
    }
    return SpecDiff(
        old=old_label,
        new=new_label,
        digests=digests,
        parameters=_compare(
            {p.name: p for p in old.parameters}, {p.name: p for p in new.parameters}
        ),
        components=components,
        tasks=tasks,
        affected=affected,
    )


def _compare(old: Mapping[str, BaseModel], new: Mapping[str, BaseModel]) -> Changes:
    changed = {}
    for name in sorted(old.keys() & new.keys()):
        fields = _changed_fields(old[name], new[name])
        if fields:
            changed[name] = fields
    return Changes(
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        changed=changed,
    )


def _changed_fields(old: BaseModel, new: BaseModel) -> list[str]:
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    # ``source`` is where a task was written (file:line): moving code is not a change.
    return sorted(k for k in a.keys() | b.keys() if k != "source" and a.get(k) != b.get(k))
