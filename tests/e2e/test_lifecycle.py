"""The lifecycle commands as a user types them: pipeline versions, runs of a version,
history, compare, rerun, lineage, schedules and their mistakes."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Workspace

pytestmark = pytest.mark.e2e

ML = """
import json

from runner import Dataset, Input, Metrics, Model, Output, component, pipeline


@component
def ingest(source: str, rows: int, data: Output[Dataset]) -> int:
    with open(data.path, "w") as fh:
        json.dump(list(range(1, rows + 1)), fh)
    return rows


@component
def train(data: Input[Dataset], lr: float, model: Output[Model], metrics: Output[Metrics]) -> str:
    with open(data.path) as fh:
        values = json.load(fh)
    with open(model.path, "w") as fh:
        fh.write("VERSION")
    metrics.log_metric("score", sum(values) / len(values) * lr)
    return "VERSION"


@pipeline(name="ml")
def ml(source: str = "s3://raw/data.csv", rows: int = 4, lr: float = 0.1):
    train(data=ingest(source=source, rows=rows).outputs["data"], lr=lr)
"""


def ok(ws: Workspace, *args: str) -> str:
    result = ws.run(*args)
    assert result.returncode == 0, result
    return result.stdout


def user_error(ws: Workspace, *args: str) -> str:
    result = ws.run(*args)
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: "), result
    return result.stderr


def test_versions_history_compare_lineage_and_schedules(ws: Workspace) -> None:
    ws.write("ml.py", ML.replace("VERSION", "v1"))
    assert "uploaded ml@v1" in ok(ws, "pipeline", "upload", "ml.py", "--version", "v1")
    ws.write("ml.py", ML.replace("VERSION", "v2"))
    err = user_error(ws, "pipeline", "upload", "ml.py", "--version", "v1")
    assert "already exists with other content" in err
    ok(ws, "pipeline", "upload", "ml.py", "--version", "v2", "--description", "better")
    diff = json.loads(ok(ws, "pipeline", "diff", "ml@v1", "ml@v2", "--json"))
    assert list(diff["components"]["changed"]) == ["train"]
    assert diff["tasks"] == {"added": [], "removed": [], "changed": {}}
    assert "ml" in ok(ws, "pipeline", "list")

    first = json.loads(ok(ws, "run", "ml@v1", "--experiment", "tune", "-p", "lr=0.5", "--json"))
    second = json.loads(ok(ws, "run", "ml", "--experiment", "tune", "--json"))
    assert first["steps"]["train"]["output_values"] == {"output": "v1"}  # not the disk's v2
    assert (first["version"], second["version"]) == ("v1", "v2")
    a, b = first["run_id"], second["run_id"]

    listed = json.loads(ok(ws, "runs", "list", "--experiment", "tune", "--json"))
    assert [r["run_id"] for r in listed] == [b, a]
    compare = json.loads(ok(ws, "runs", "compare", a, b, "--json", "--plot", "out/cmp.png"))
    assert compare["different"] == {"params": ["lr"], "metrics": ["train.score"]}
    assert (ws.root / "out" / "cmp.png").read_bytes()[:4] == b"\x89PNG"
    assert "* lr" in ok(ws, "runs", "compare", a, b)

    lineage = json.loads(ok(ws, "lineage", f"{b}/train/model", "--json"))
    data = lineage["producer"]["inputs"]["data"][0]
    assert (data["run"], data["step"]) == (a, "ingest")  # reused from the cache
    assert data["producer"]["parameters"]["source"] == "s3://raw/data.csv"

    rerun = json.loads(ok(ws, "runs", "rerun", a, "--json"))
    assert (rerun["version"], rerun["params"]["lr"]) == ("v1", 0.5)
    assert rerun["requested_by"] == f"rerun/{a}"
    experiments = json.loads(ok(ws, "experiments", "list", "--json"))
    assert experiments[0]["experiment"] == "tune"
    assert experiments[0]["runs"] == 3

    out = ok(ws, "schedule", "add", "nightly", "--pipeline", "ml@v1", "--cron", "0 3 * * *")
    assert "next run" in out
    [schedule] = json.loads(ok(ws, "schedule", "ls", "--json"))
    assert (schedule["name"], schedule["version"], schedule["cron"]) == (
        "nightly",
        "v1",
        "0 3 * * *",
    )
    ok(ws, "schedule", "pause", "nightly")
    ok(ws, "schedule", "rm", "nightly")

    assert "hour (field 2 of 5) '25'" in user_error(
        ws, "schedule", "add", "bad", "--pipeline", "ml@v1", "--cron", "0 25 * * *"
    )
    assert "(registered pipelines: ml)" in user_error(ws, "run", "nope@v1")
    assert "(its versions: v1, v2)" in user_error(ws, "run", "ml@v3")
    assert "not a valid version name" in user_error(ws, "pipeline", "show", "ml@bad/v")
    assert "'missing-run' not found" in user_error(ws, "runs", "compare", a, "missing-run")
