"""Golden files: each pipeline in tests/golden/pipelines compiles to tests/golden/<name>.json.

Regenerate after an intended change with::

    UPDATE_GOLDEN=1 pytest tests/unit/dsl/test_golden.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from runner.dsl.loader import load_pipeline
from runner.spec import PipelineSpec

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
CASES = sorted(p.stem for p in (GOLDEN / "pipelines").glob("*.py") if p.stem != "__init__")


def render(spec: PipelineSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def test_the_issue_cases_are_present() -> None:
    assert {"linear", "fan_out", "artifacts", "container", "iris", "controlflow"} <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_compiled_spec_matches_golden(name: str) -> None:
    spec = load_pipeline(str(GOLDEN / "pipelines" / f"{name}.py")).pipeline.compile()
    actual = render(spec)
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"no {golden.name}; run UPDATE_GOLDEN=1 pytest {__file__}"
    expected = golden.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "now")
    )
    assert actual == expected, f"{name} changed (UPDATE_GOLDEN=1 to accept):\n{diff}"
    assert PipelineSpec.model_validate_json(expected) == spec


@pytest.mark.parametrize("name", CASES)
def test_golden_files_hold_no_machine_specific_paths(name: str) -> None:
    text = (GOLDEN / f"{name}.json").read_text(encoding="utf-8")
    spec = PipelineSpec.model_validate_json(text)
    for task in spec.tasks:
        assert task.source is not None
        assert "/" not in task.source
        assert "\\" not in task.source
    for part in (str(GOLDEN.parent.parent), "/tmp", "/home", "/Users"):
        assert part not in text
    for component in spec.components.values():
        if component.entrypoint:
            assert component.entrypoint.startswith(f"tests.golden.pipelines.{name}:")
