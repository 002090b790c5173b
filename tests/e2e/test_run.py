"""``runner run`` on the embedded default, and the commands that read its history."""

from __future__ import annotations

import json
import re

import pytest

from runner.events.codec import decode
from runner.events.kinds import EventKind
from tests.e2e.conftest import Workspace
from tests.e2e.pipelines import FAILING, SMALL

pytestmark = pytest.mark.e2e

_LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+)\s+(\S+)")


def states(output: str) -> dict[str, list[str]]:
    """Step (or ``run``) -> the states its progress lines showed, in order."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        match = _LINE.match(line)
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


def test_run_succeeds_then_is_fully_cached_and_cache_commands(ws: Workspace) -> None:
    ws.write("small.py", SMALL)
    first = ws.run("run", "small.py", "-p", "n=4")
    assert first.returncode == 0, first
    seen = states(first.stdout)
    assert seen["make"][-1] == "succeeded"
    assert seen["stats"] == ["launching", "running", "succeeded"]
    assert seen["run"] == ["started", "succeeded"]
    assert re.search(r"^run small-\S+ succeeded in .*\(2 succeeded\)$", first.stdout, re.M)
    assert "metrics stats/metrics: mean=1.5" in first.stdout
    assert (ws.root / ".runner" / "store").is_dir(), "embedded default lives in ./.runner"

    again = ws.run("run", "small.py", "-p", "n=4")
    assert again.returncode == 0, again
    seen = states(again.stdout)
    assert seen["make"] == ["cached"], again
    assert seen["stats"] == ["cached"], again
    assert "(2 cached)" in again.stdout

    listing = ws.run("cache", "ls")
    assert listing.returncode == 0, listing
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["KEY", "COMPONENT", "PRODUCER", "CREATED", "SIZE"]
    by_component = {row.split()[1]: row.split()[0] for row in rows[1:]}
    assert set(by_component) == {"make", "stats"}

    removed = ws.run("cache", "rm", by_component["stats"])
    assert removed.returncode == 0, removed
    assert "removed cache entry" in removed.stdout
    third = ws.run("run", "small.py", "-p", "n=4")
    seen = states(third.stdout)
    assert seen["make"] == ["cached"], third
    assert seen["stats"][-1] == "succeeded", third

    pruned = ws.run("cache", "prune", "--older-than", "0s", "--dry-run")
    assert pruned.returncode == 0, pruned
    assert len(pruned.stdout.splitlines()) == 2
    assert "would remove 2 cache entries" in pruned.stderr


def test_failed_run_exits_1_with_the_error_and_logs_show_what_steps_printed(
    ws: Workspace,
) -> None:
    ws.write("failing.py", FAILING)
    result = ws.run("run", "failing.py", "-p", "n=7")
    assert result.returncode == 1, result
    seen = states(result.stdout)
    assert seen["boom"][-1] == "failed"
    assert seen["after"] == ["skipped"]
    assert seen["run"][-1] == "failed"
    assert "step boom failed (attempt 1, Exception): ValueError: bad value 7" in result.stdout
    assert "  | ValueError: bad value 7" in result.stdout, "the traceback's tail is shown"
    run_id = re.search(r"runner logs (\S+) boom", result.stdout)
    assert run_id is not None, result

    logs = ws.run("logs", run_id[1], "boom")
    assert logs.returncode == 0, logs
    assert "about to fail with 7" in logs.stdout
    ok = ws.run("logs", run_id[1], "ok", "--attempt", "1")
    assert ok.stdout.strip() == "ok got 7"
    skipped = ws.run("logs", run_id[1], "after")
    assert skipped.returncode == 2
    assert skipped.stderr.startswith("error: step 'after'")
    assert "has not run" in skipped.stderr


def test_json_record_status_runs_list_and_events(ws: Workspace) -> None:
    ws.write("small.py", SMALL)
    result = ws.run("run", "small.py", "--json", "-p", "n=3", "-p", "label=hi", "-p", "verbose=yes")
    assert result.returncode == 0, result
    record = json.loads(result.stdout)  # stdout holds the record and nothing else
    assert re.search(r"^\S+ stats\s+succeeded", result.stderr, re.M), "progress on stderr"
    run_id = record["run_id"]
    assert record["pipeline"] == "small"
    assert record["status"] == "succeeded"
    assert re.fullmatch(r"[0-9a-f]{64}", record["digest"])
    assert record["params"] == {"n": 3, "label": "hi", "scale": 1.0, "verbose": True}
    assert record["duration_seconds"] > 0
    make, stats = record["steps"]["make"], record["steps"]["stats"]
    assert (make["status"], make["cached"], make["attempts"]) == ("succeeded", False, 1)
    assert make["output_values"] == {"output": 3}
    data = make["outputs"]["data"]
    assert data["uri"].startswith((ws.root / ".runner").resolve().as_uri())
    assert data["digest"].startswith("sha256:")
    assert data["size"] == len("[0, 1, 2]")
    assert stats["metrics"] == {"metrics": {"mean": 1.0}}
    assert stats["output_values"] == {"output": 1.0}
    assert stats["duration_seconds"] is not None

    status = ws.run("status", run_id, "--json")
    assert status.returncode == 0, status
    assert json.loads(status.stdout) == record
    text = ws.run("status", run_id)
    assert f"run:        {run_id}" in text.stdout
    assert re.search(r"^stats\s+succeeded\s+no\s+1\s", text.stdout, re.M), text

    listing = ws.run("runs", "list")
    assert listing.returncode == 0, listing
    assert re.search(rf"^{run_id}\s+small\s+succeeded\s", listing.stdout, re.M), listing

    events = ws.run("events", "--run", run_id)
    assert events.returncode == 0, events
    lines = events.stdout.splitlines()
    decoded = [
        decode(line.encode(), {"content-type": "application/cloudevents+json"}) for line in lines
    ]
    assert all(json.loads(line)["specversion"] == "1.0" for line in lines)
    assert {e.run_id for e in decoded} == {run_id}
    kinds = [e.kind for e in decoded]
    assert kinds[0] is EventKind.RUN_REQUESTED
    assert kinds[-1] is EventKind.RUN_SUCCEEDED
    assert kinds.count(EventKind.STEP_SUCCEEDED) == 2

    succeeded_only = ws.run("events", "--run", run_id, "--type", "step.succeeded")
    assert [json.loads(x)["subject"] for x in succeeded_only.stdout.splitlines()] == [
        "make",
        "stats",
    ]


def test_settings_come_from_runner_toml_and_flags_override_it(ws: Workspace) -> None:
    ws.write("small.py", SMALL)
    ws.write("runner.toml", 'home = "state"\n[local]\nconcurrency = 1\n')
    shown = ws.run("config", "show", "--json")
    assert json.loads(shown.stdout)["home"] == str((ws.root / "state").resolve())
    assert json.loads(shown.stdout)["local.concurrency"] == 1
    flagged = ws.run("config", "show", "--json", "--home", "other", RUNNER_HOME="env")
    assert json.loads(flagged.stdout)["home"] == str((ws.root / "other").resolve())
    from_env = ws.run("config", "show", "--json", RUNNER_HOME="env")
    assert json.loads(from_env.stdout)["home"] == str((ws.root / "env").resolve())

    result = ws.run("run", "small.py")
    assert result.returncode == 0, result
    assert (ws.root / "state" / "store").is_dir()
    assert not (ws.root / ".runner").exists()
    ws.homes.add(ws.root / "state")
