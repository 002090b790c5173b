"""Every ``python`` block of docs/authoring.md runs as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from tests.unit.dsl.conftest import WriteModule

DOC = Path(__file__).resolve().parents[3] / "docs" / "authoring.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index: int, write_module: WriteModule) -> None:
    # Run from a real file, as a script: components need their source for the digest.
    file = write_module(BLOCKS[index], name=f"authoring_example_{index}")
    runpy.run_path(str(file), run_name="__main__")
