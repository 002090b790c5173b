"""``runner environments ls | rm DIGEST | prune``: step environments under ``<home>/envs``.

Each is a virtualenv built for one requirement set of components'
``packages`` (docs/authoring.md, "Environments for packages"). Removing one
only costs a rebuild the next time a step asks for that set. Only the home
is needed: no NATS, no store.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from runner.cli.cache import parse_age
from runner.cli.errors import user_errors
from runner.cli.options import JsonOption, settings_of, settings_options
from runner.cli.render import format_size, format_table, format_time
from runner.envs import layout
from runner.envs.build import is_locked
from runner.errors import NotFoundError, ValidationError

__all__ = ["register"]

environments_app = typer.Typer(
    help="Step environments built for components' packages.", no_args_is_help=True
)

DIGEST_SHOWN = 12
HALF_BUILT = "(half-built)"


def _requirements(entry: layout.EnvironmentEntry) -> str:
    if entry.record is None:
        return HALF_BUILT
    return " ".join(entry.record.requirements)


@environments_app.command("ls")
@settings_options("home", "config")
def ls_command(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List environments, most recently used first."""
    with user_errors():
        entries = layout.list_environments(settings_of(ctx).home)[::-1]
    if json_output:
        typer.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    if not entries:
        typer.echo("no environments (they are built for components with packages)", err=True)
        return
    rows = [
        [
            e.digest[:DIGEST_SHOWN],
            _requirements(e),
            e.record.python.get("version", "?") if e.record else "",
            format_size(e.size),
            format_time(e.last_used),
            format_time(e.record.created_at) if e.record else "",
        ]
        for e in entries
    ]
    headers = ["DIGEST", "REQUIREMENTS", "PYTHON", "SIZE", "LAST USED", "CREATED"]
    typer.echo(format_table(headers, rows))


def _match(entries: list[layout.EnvironmentEntry], prefix: str) -> layout.EnvironmentEntry:
    if not prefix:
        raise ValidationError("environment digest is empty: copy one from `runner environments ls`")
    matches = [e for e in entries if e.digest.startswith(prefix)]
    if not matches:
        raise NotFoundError(f"no environment with digest {prefix!r}: see `runner environments ls`")
    if len(matches) > 1:
        shown = ", ".join(e.digest[: len(prefix) + 4] for e in matches[:5])
        raise ValidationError(
            f"digest prefix {prefix!r} matches {len(matches)} environments ({shown}...): "
            "give more characters"
        )
    return matches[0]


@environments_app.command("rm")
@settings_options("home", "config")
def rm_command(
    ctx: typer.Context,
    digest: Annotated[
        str, typer.Argument(metavar="DIGEST", help="An environment digest or a unique prefix.")
    ],
) -> None:
    """Remove one environment (a step asking for it again rebuilds it)."""
    with user_errors():
        entries = layout.list_environments(settings_of(ctx).home, sizes=False)
        entry = _match(entries, digest.strip().lower())
        if is_locked(layout.lock_path(entry.path)):
            raise ValidationError(
                f"environment {entry.digest[:DIGEST_SHOWN]} is being built right now: "
                "try again when the build is done"
            )
        layout.remove_dir(entry.path)
        layout.lock_path(entry.path).unlink(missing_ok=True)
    what = _requirements(entry)
    typer.echo(f"removed environment {entry.digest} ({what})")


def _prunable(entry: layout.EnvironmentEntry, age: timedelta | None) -> bool:
    if is_locked(layout.lock_path(entry.path)):
        return False  # being built now: half-built only until it is done
    if entry.record is None:
        return True
    return age is not None and layout.age_seconds(entry) >= age.total_seconds()


@environments_app.command("prune")
@settings_options("home", "config")
def prune_command(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="AGE", help="Also remove environments unused for AGE."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be removed.")
    ] = False,
) -> None:
    """Remove half-built environments and, with --older-than, ones unused that long."""
    with user_errors():
        age = parse_age(older_than) if older_than else None
        entries = layout.list_environments(settings_of(ctx).home, sizes=False)
        doomed = [e for e in entries if _prunable(e, age)]
        if not dry_run:
            for entry in doomed:
                layout.remove_dir(entry.path)
                layout.lock_path(entry.path).unlink(missing_ok=True)
    verb = "would remove" if dry_run else "removed"
    for entry in doomed:
        typer.echo(f"{verb} {entry.digest} ({_requirements(entry)})")
    count = len(doomed)
    typer.echo(f"{verb} {count} environment{'' if count == 1 else 's'}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(environments_app, name="environments")
