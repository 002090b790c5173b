"""docs/cli.md and docs/configuration.md stay in step with the code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer.main

from runner.cli.app import app
from runner.cli.config import reference_markdown

DOCS = Path(__file__).resolve().parents[3] / "docs"
CLI_DOC = (DOCS / "cli.md").read_text(encoding="utf-8")
CONFIG_DOC = (DOCS / "configuration.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "runner") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from commands(command, path)


ALL = dict(commands(typer.main.get_command(app)))  # type: ignore[arg-type]


def test_configuration_reference_is_the_generated_table() -> None:
    block = re.search(
        r"<!-- BEGIN GENERATED: runner config docs -->\n(.*)<!-- END GENERATED -->",
        CONFIG_DOC,
        re.S,
    )
    assert block is not None, "docs/configuration.md lost its generated block"
    assert block[1] == reference_markdown(), "regenerate it with `runner config docs`"


@pytest.mark.parametrize("path", sorted(ALL))
def test_every_command_and_option_is_documented(path: str) -> None:
    assert path in CLI_DOC, f"docs/cli.md does not mention `{path}`"
    for param in ALL[path].params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            if longest != "--help":
                assert longest in CLI_DOC, f"docs/cli.md does not mention {path} {longest}"


def test_top_level_commands_have_a_section() -> None:
    top = {path for path in ALL if path.count(" ") == 1}
    for path in top - {"runner spec"}:  # `spec schema` is documented under compile
        assert re.search(rf"^## {re.escape(path)}\b", CLI_DOC, re.M), f"no section for {path}"
