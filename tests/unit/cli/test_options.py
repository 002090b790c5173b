"""The settings flags are declared once (runner.cli.options) and read from ``ctx.obj``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from runner.cli.app import app
from runner.cli.options import READ_FLAGS, CliContext, settings_of, settings_options


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RUNNER_HOME", "RUNNER_STORE", "NATS_URL", "RUNNER_NATS_URL", "RUNNER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _tool(command: Callable[..., None]) -> typer.Typer:
    tool = typer.Typer()
    tool.command("show")(command)
    tool.command("other", hidden=True)(lambda: None)  # a group, so `show` is a subcommand
    return tool


def test_flags_after_the_command_reach_its_settings(tmp_path: Path) -> None:
    seen: list[CliContext] = []

    @settings_options(*READ_FLAGS)
    def show(ctx: typer.Context, name: str) -> None:
        seen.append(ctx.obj)
        typer.echo(f"{name} {settings_of(ctx).home} {settings_of(ctx).nats.url}")

    result = CliRunner().invoke(
        _tool(show), ["show", "x", "--home", str(tmp_path / "h"), "--nats", "nats://n:4222"]
    )

    assert result.exit_code == 0, result.output
    assert result.output == f"x {tmp_path / 'h'} nats://n:4222\n"
    (context,) = seen
    assert context.flags == {
        "home": tmp_path / "h",
        "nats": "nats://n:4222",
        "store": None,
        "config": None,
    }
    assert context.settings is context.settings  # built once


def test_help_lists_the_chosen_flags_after_the_commands_own() -> None:
    @settings_options("home", "config")
    def show(ctx: typer.Context, limit: int = 3) -> None:
        """Show it."""

    result = CliRunner().invoke(_tool(show), ["show", "--help"], terminal_width=100)

    assert result.exit_code == 0
    text = result.output
    assert text.index("--limit") < text.index("--home") < text.index("--config")
    assert "--nats" not in text
    assert "--store" not in text


def test_settings_are_built_only_when_read(tmp_path: Path) -> None:
    bad = tmp_path / "runner.toml"
    bad.write_text("home = [")

    @settings_options("home", "config")
    def show(ctx: typer.Context) -> None:
        typer.echo("no settings needed")

    result = CliRunner().invoke(_tool(show), ["show", "--config", str(bad)])

    assert result.exit_code == 0, result.output
    assert result.output == "no settings needed\n"


def test_a_command_without_a_context_parameter_is_refused() -> None:
    def show(name: str) -> None:
        pass

    with pytest.raises(TypeError, match=r"ctx: typer\.Context"):
        settings_options("home")(show)


def test_the_documented_form_works_end_to_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["config", "show", "--json", "--home", str(tmp_path / "state"), "--log-level", "info"]
    )

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["home"] == str((tmp_path / "state").resolve())
    assert shown["log_level"] == "INFO"


def test_help_imports_no_croniter() -> None:
    code = (
        "import sys\n"
        "from runner.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print('croniter' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False", out.stderr
