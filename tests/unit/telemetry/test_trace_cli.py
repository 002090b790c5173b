"""``runner trace`` on a recorded run: the waterfall, the critical path, OTLP/JSON out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli.app import app
from runner.telemetry.waterfall import parse_spans, read_requests

RECORDED = Path(__file__).parent / "recorded"
RUN = "recorded-1"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RUNNER_HOME", raising=False)
    monkeypatch.delenv("RUNNER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(RECORDED / RUN, tmp_path / "home" / "traces" / RUN)
    return tmp_path / "home"


def trace(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["trace", RUN, "--home", str(home), *args])
    return result.exit_code, result.output


def rows(output: str) -> dict[str, list[str]]:
    """Waterfall lines by span name (a name can repeat: one line per attempt)."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        name = line[2:].strip().split("  ")[0]
        found.setdefault(name, []).append(line)
    return found


def test_the_waterfall_shows_steps_attempts_and_what_ran_inside(home: Path) -> None:
    code, output = trace(home)
    assert code == 0, output
    assert output.startswith(f"run {RUN} (pipeline recorded) succeeded in ")
    lines = rows(output)
    (load,) = lines["step load"]
    assert load.endswith(" cached")
    first, second = lines["step train"]
    assert first.endswith(" retried")
    assert not second.endswith(("retried", "failed"))
    assert any(line.endswith(" error") for line in lines["run train"])
    # The user's span nests under the component's run, under its step.
    depth = {name: len(found[0]) - len(found[0].lstrip(" *")) for name, found in lines.items()}
    assert depth["step evaluate"] < depth["run evaluate"] < depth["score batches"]
    assert "* critical path: load → train → evaluate" in output
    assert all(line.startswith("*") for line in lines["step evaluate"])
    assert "handle" not in output  # controller work only with --all


def test_all_adds_the_controllers_own_work(home: Path) -> None:
    code, output = trace(home, "--all")
    assert code == 0, output
    assert "launch train" in output
    assert "cache lookup load" in output


def test_otlp_json_writes_one_request_with_every_span(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    code, output = trace(home, "--otlp-json", str(out))
    assert code == 0, output
    request = json.loads(out.read_text())
    written = parse_spans([request])
    recorded = parse_spans(read_requests(home / "traces", RUN))
    assert {s.span_id for s in written} == {s.span_id for s in recorded}
    assert len({s.trace_id for s in written}) == 1
    assert f"wrote {len(written)} spans" in output


def test_an_unknown_run_says_where_it_looked(home: Path) -> None:
    result = CliRunner().invoke(app, ["trace", "nope-1", "--home", str(home)])
    assert result.exit_code == 2
    assert "no spans of run 'nope-1'" in result.output
