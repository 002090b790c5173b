"""``runner compile`` and ``runner spec schema``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from runner.cli.app import app
from runner.spec import PipelineSpec
from tests.unit.dsl.conftest import WriteModule

FLOW = """
from runner import component, pipeline

@component
def step(n: int) -> int:
    return n

@pipeline(name="cli-flow")
def flow(n: int = 1):
    step(n=n).set_timeout("5m")
"""


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_compile_to_json(cli: CliRunner, write_module: WriteModule, tmp_path: Path) -> None:
    file = write_module(FLOW)
    out = tmp_path / "spec.json"
    result = cli.invoke(app, ["compile", str(file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    spec = PipelineSpec.model_validate_json(out.read_text())
    assert spec.name == "cli-flow"
    assert spec.tasks[0].timeout_seconds == 300
    assert f"digest {spec.digest()}" in result.stderr


def test_compile_to_yaml_and_stdout(
    cli: CliRunner, write_module: WriteModule, tmp_path: Path
) -> None:
    file = write_module(FLOW)
    out = tmp_path / "spec.yaml"
    assert cli.invoke(app, ["compile", f"{file}:flow", "--output", str(out)]).exit_code == 0
    from_yaml = PipelineSpec.model_validate(yaml.safe_load(out.read_text()))
    result = cli.invoke(app, ["compile", str(file)])
    assert result.exit_code == 0
    assert PipelineSpec.model_validate_json(result.stdout) == from_yaml


def test_spec_schema(cli: CliRunner) -> None:
    result = cli.invoke(app, ["spec", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == PipelineSpec.model_json_schema()


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (None, "missing.py", "error: pipeline file 'missing.py' does not exist"),
        ("x = 1\n", "{file}", "error: {name} defines no @pipeline"),
        (FLOW.replace("n=n", "n='x'"), "{file}", "error: component 'step' called at {name}:"),
        ("import nope_nope\n", "{file}", "error: cannot import {name}"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    cli: CliRunner, write_module: WriteModule, source: str | None, target: str, message: str
) -> None:
    file = write_module(source) if source is not None else Path("missing.py")
    result = cli.invoke(app, ["compile", target.format(file=file)])
    assert result.exit_code == 2
    assert result.stderr.startswith(message.format(name=file.name))
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_unwritable_output(cli: CliRunner, write_module: WriteModule, tmp_path: Path) -> None:
    result = cli.invoke(
        app, ["compile", str(write_module(FLOW)), "-o", str(tmp_path / "no/x.json")]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot write")


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad_flow.py"
    bad.write_text(FLOW.replace("def step(n: int)", "def step(n)"))
    proc = subprocess.run(
        [sys.executable, "-c", "from runner.cli import main; main()", "compile", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: component 'step' (bad_flow.py:4): argument 'n' has no")
    assert "Traceback" not in proc.stderr
