"""The shipped demo pipeline, end to end through the CLI (real scikit-learn work)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "functions" / "demo.py"
STEPS = {"ingest", "validate", "split", "preprocess", "train", "evaluate", "register"}


def test_demo_pipeline_runs(ws: Workspace) -> None:
    result = ws.run("run", str(DEMO), "--json", timeout=300)
    assert result.returncode == 0, result
    record = json.loads(result.stdout)
    assert record["pipeline"] == "demo"
    assert record["status"] == "succeeded"
    assert set(record["steps"]) == STEPS
    assert all(s["status"] == "succeeded" for s in record["steps"].values())
    metrics = [m for s in record["steps"].values() for m in s["metrics"].values()]
    assert metrics, "the demo logs metrics"
