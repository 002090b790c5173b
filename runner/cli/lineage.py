"""``runner lineage URI|RUN/STEP/OUTPUT``: where an artifact came from, or where it went.

Upstream (the default): the run and step that produced it, the component
and cache key, and each input — parameters by value, artifacts recursively
back to steps that read no artifact (the sources). ``--downstream``: the
steps, in any run, that read it, and what they produced, recursively.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import READ_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.render import format_size, format_value, short_digest
from runner.cli.stack import open_stack
from runner.config import Settings
from runner.lifecycle.lineage import ArtifactNode, LineageReader

__all__ = ["lineage_lines", "register"]


@settings_options(*READ_FLAGS)
def lineage_command(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(metavar="URI|RUN/STEP/OUTPUT", help="An artifact URI, or run/step/output."),
    ],
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Who consumed it, instead of where it came from.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show which run and step produced an artifact, from which inputs (or who used it)."""
    with user_errors():
        node = run_async(_walk(settings_of(ctx), target, downstream))
    if json_output:
        typer.echo(json.dumps(node.to_json(), indent=2, default=str))
    else:
        typer.echo("\n".join(lineage_lines(node)))


async def _walk(settings: Settings, target: str, downstream: bool) -> ArtifactNode:
    async with open_stack(settings, controller=False) as stack:
        reader = LineageReader(stack.bus, stack.store)
        node = await reader.locate(target)
        return await (reader.downstream(node) if downstream else reader.upstream(node))


def lineage_lines(node: ArtifactNode, indent: str = "") -> list[str]:
    """A tree: artifacts, the step that made each (upstream) or read it (downstream)."""
    lines = [f"{indent}{_artifact(node)}"]
    if node.via:
        lines.append(f"{indent}  (as reused from the cache by {node.via})")
    producer = node.producer
    if producer is not None:
        cache = f", cache key {short_digest(producer.cache_key)}" if producer.cache_key else ""
        lines.append(
            f"{indent}  <- {producer.run}/{producer.step} ({producer.status}), component "
            f"{producer.component} {short_digest(producer.component_digest)}{cache}"
        )
        for name, value in producer.parameters.items():
            lines.append(f"{indent}     {name} = {format_value(value)}")
        for name, artifacts in producer.artifacts.items():
            for child in artifacts:
                lines.append(f"{indent}     {name}:")
                lines += lineage_lines(child, indent + "       ")
    for consumer in node.consumers:
        cached = ", cached" if consumer.cached else ""
        lines.append(
            f"{indent}  -> read by {consumer.run}/{consumer.step} as {consumer.input}{cached}"
        )
        for child in consumer.outputs:
            lines += lineage_lines(child, indent + "       ")
    return lines


def _artifact(node: ArtifactNode) -> str:
    what = f"{node.run}/{node.step}/{node.output}"
    detail = ", ".join(
        x
        for x in (
            node.kind,
            format_size(node.size) if node.size is not None else None,
            short_digest(node.digest) if node.digest else None,
        )
        if x
    )
    return f"{what}  {node.uri}" + (f"  ({detail})" if detail else "")


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage_command)
