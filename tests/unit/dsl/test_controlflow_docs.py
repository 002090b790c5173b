"""Every ``python`` block of docs/control-flow.md runs as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from tests.unit.dsl.conftest import WriteModule

DOC = Path(__file__).resolve().parents[3] / "docs" / "control-flow.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_the_page_has_examples_of_every_construct() -> None:
    text = "\n".join(BLOCKS)
    constructs = ["If(", "Elif(", "Else()", "OneOf(", "ParallelFor(", "Collected("]
    constructs += ["ExitHandler(", "PipelineTaskFinalStatus", "ignore_upstream_failure()"]
    for construct in constructs:
        assert construct in text, construct


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index: int, write_module: WriteModule) -> None:
    file = write_module(BLOCKS[index], name=f"controlflow_example_{index}")
    runpy.run_path(str(file), run_name="__main__")
