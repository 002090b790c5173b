"""Loading a pipeline from ``path/to/file.py[:func]`` the way a step will import it.

The file is imported under its real dotted module name (see
:mod:`runner.dsl.modules`), never as ``__main__``, so that the ``module:qualname``
entry points in the compiled spec can be imported again from the shipped
source tree.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from runner.dsl.modules import module_location
from runner.dsl.pipeline import PipelineDefinition
from runner.dsl.sources import raise_location
from runner.errors import NotFoundError, PipelineDefinitionError, RunnerError, ValidationError

__all__ = ["LoadedPipeline", "load_pipeline"]


@dataclass(frozen=True)
class LoadedPipeline:
    """A pipeline found in a file, with where its code lives."""

    pipeline: PipelineDefinition
    source_root: Path
    """The directory to put on ``sys.path`` (and to ship) to import ``module``."""
    module: str
    """The dotted module name the file was imported as."""
    file: Path


def load_pipeline(target: str) -> LoadedPipeline:
    """Import ``file.py`` and return its pipeline (or the one named after ``:``)."""
    path_text, _, attribute = _split(target)
    file = Path(path_text).expanduser()
    if not file.is_file():
        raise NotFoundError(f"pipeline file {path_text!r} does not exist")
    if file.suffix != ".py":
        raise ValidationError(f"pipeline file {path_text!r} is not a Python (.py) file")
    file = file.resolve()
    source_root, module_name = module_location(file)
    module = _import(file, source_root, module_name)
    pipeline = _pick(module, attribute, file)
    return LoadedPipeline(pipeline=pipeline, source_root=source_root, module=module_name, file=file)


def _split(target: str) -> tuple[str, str, str]:
    """``a/b.py:iris`` → path and attribute; a Windows drive colon is not a separator."""
    path, sep, attribute = target.rpartition(":")
    if not sep or not attribute.isidentifier() or path.endswith(("\\", "/")):
        return target, "", ""
    return path, sep, attribute


def _import(file: Path, source_root: Path, module_name: str) -> ModuleType:
    if str(source_root) not in sys.path:
        sys.path.insert(0, str(source_root))
    importlib.invalidate_caches()  # the file may be newer than the finders' directory cache
    try:
        module = importlib.import_module(module_name)
    except RunnerError:
        raise  # a decorator already explained what is wrong
    except Exception as exc:
        where = raise_location(exc, str(file))
        raise PipelineDefinitionError(
            f"cannot import {file.name} as module '{module_name}' (from {source_root}): "
            f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else "")
        ) from exc
    loaded = getattr(module, "__file__", None)
    if loaded is None or Path(loaded).resolve() != file:
        raise PipelineDefinitionError(
            f"module name '{module_name}' of {file} is already taken by {loaded or module!r}; "
            "rename the file (or its package) so that it does not shadow another module"
        )
    return module


def _pick(module: ModuleType, attribute: str, file: Path) -> PipelineDefinition:
    own = _pipelines(module)
    listing = ", ".join(own) or "none"
    if attribute:
        found = getattr(module, attribute, None)
        if isinstance(found, PipelineDefinition):
            return found
        problem = "does not exist" if found is None else "is not decorated with @pipeline"
        raise PipelineDefinitionError(
            f"{file.name}:{attribute} {problem}; pipelines in the file: {listing}"
        )
    distinct = {id(p): p for p in own.values()}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    if not distinct:
        raise PipelineDefinitionError(
            f"{file.name} defines no @pipeline; decorate the pipeline function with "
            "@pipeline (or name one that it imports with FILE:FUNC)"
        )
    raise PipelineDefinitionError(
        f"{file.name} defines several pipelines ({listing}); choose one with {file.name}:NAME"
    )


def _pipelines(module: ModuleType) -> dict[str, PipelineDefinition]:
    """Attribute → pipeline, for the pipelines defined in the module itself (not imported)."""
    return {
        attr: value
        for attr, value in vars(module).items()
        if isinstance(value, PipelineDefinition) and value.fn.__module__ == module.__name__
    }
