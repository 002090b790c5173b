"""Fixtures for DSL tests: pipeline modules written to a temporary source tree."""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_counter = itertools.count()

WriteModule = Callable[..., Path]


@pytest.fixture
def write_module(tmp_path: Path) -> Iterator[WriteModule]:
    """Write ``source`` as ``<tmp>/<name>.py`` (a fresh module name by default).

    Modules imported from the files and ``sys.path`` entries added while the
    test runs are removed afterwards, so tests cannot see each other's modules.
    """
    path_before = list(sys.path)
    modules_before = set(sys.modules)

    def write(source: str, name: str | None = None, directory: Path | None = None) -> Path:
        name = name or f"dsl_case_{next(_counter)}"
        folder = directory or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    yield write
    sys.path[:] = path_before
    for name in set(sys.modules) - modules_before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(tmp_path)):
            del sys.modules[name]
