"""``runner compile PATH[:FUNC] -o FILE`` and ``runner spec schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from runner.cli.errors import user_errors
from runner.dsl.loader import load_pipeline
from runner.errors import ValidationError
from runner.spec import PipelineSpec

__all__ = ["register"]

spec_app = typer.Typer(help="The compiled pipeline format (the IR).", no_args_is_help=True)


def compile_command(
    target: Annotated[str, typer.Argument(help="path/to/pipeline.py, optionally :pipeline_func")],
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Spec file to write (.json, .yaml/.yml); '-' = stdout"),
    ] = "-",
) -> None:
    """Compile a pipeline into its spec (JSON, or YAML for a .yaml/.yml name)."""
    with user_errors():
        spec = load_pipeline(target).pipeline.compile()
        text = render_spec(spec, output)
        if output == "-":
            typer.echo(text, nl=False)
        else:
            _write(Path(output), text)
    typer.echo(
        f"compiled pipeline '{spec.name}': {len(spec.tasks)} task(s), digest {spec.digest()}",
        err=True,
    )


def render_spec(spec: PipelineSpec, name: str) -> str:
    """The spec as JSON, or as YAML when ``name`` ends in ``.yaml``/``.yml``."""
    data = spec.model_dump(mode="json")
    if name.endswith((".yaml", ".yml")):
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}") from None


@spec_app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the compiled pipeline spec."""
    typer.echo(json.dumps(PipelineSpec.model_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_command)
    app.add_typer(spec_app, name="spec")
