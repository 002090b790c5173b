"""``runner cache ls | rm KEY | prune``: the step cache (manifests in the store).

Removing a cache entry forgets that a step's result can be reused; the
outputs themselves stay where their run put them. Only the store is needed,
not NATS. ``KEY`` may be any unique prefix of a cache key, as ``ls`` shows.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated

import typer

from runner.cli.aio import run_async
from runner.cli.errors import user_errors
from runner.cli.options import STORE_FLAGS, JsonOption, settings_of, settings_options
from runner.cli.render import format_size, format_table, format_time
from runner.config import Settings
from runner.errors import NotFoundError, ValidationError
from runner.store.factory import open_store
from runner.store.manifests import CacheManifest, delete_manifest, list_manifests, prune

__all__ = ["parse_age", "register"]

cache_app = typer.Typer(help="The step cache.", no_args_is_help=True)

KEY_SHOWN = 16
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` -> a timedelta."""
    match = _AGE.match(text.lower())
    if match is None:
        raise ValidationError(
            f"--older-than {text!r} is not an age: use a number and a unit s, m, h, d or w "
            "(e.g. 7d)"
        )
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


async def _manifests(settings: Settings) -> list[CacheManifest]:
    store = open_store(settings.store_uri(), settings.storage)
    try:
        found = [m async for m in list_manifests(store)]
    finally:
        await store.close()
    found.sort(key=lambda m: m.created_at, reverse=True)
    return found


def _size(manifest: CacheManifest) -> int:
    return sum(ref.size for ref in manifest.outputs.values())


@cache_app.command("ls")
@settings_options(*STORE_FLAGS)
def ls_command(
    ctx: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """List cache entries, newest first."""
    with user_errors():
        manifests = run_async(_manifests(settings_of(ctx)))
    if json_output:
        typer.echo(json.dumps([m.model_dump(mode="json") for m in manifests], indent=2))
        return
    if not manifests:
        typer.echo("the cache is empty", err=True)
        return
    rows = [
        [
            m.cache_key[:KEY_SHOWN],
            m.component,
            f"{m.producer_run}/{m.producer_step}",
            format_time(m.created_at),
            format_size(_size(m)),
        ]
        for m in manifests
    ]
    typer.echo(format_table(["KEY", "COMPONENT", "PRODUCER", "CREATED", "SIZE"], rows))


@cache_app.command("rm")
@settings_options(*STORE_FLAGS)
def rm_command(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="A cache key or a unique prefix.")],
) -> None:
    """Forget one cache entry (its outputs are kept)."""
    with user_errors():
        removed = run_async(_rm(settings_of(ctx), key.strip().lower()))
    typer.echo(
        f"removed cache entry {removed.cache_key} ({removed.component}, from "
        f"{removed.producer_run}/{removed.producer_step})"
    )


async def _rm(settings: Settings, prefix: str) -> CacheManifest:
    if not prefix:
        raise ValidationError("cache key is empty: copy one from `runner cache ls`")
    matches = [m for m in await _manifests(settings) if m.cache_key.startswith(prefix)]
    if not matches:
        raise NotFoundError(f"no cache entry with key {prefix!r}: see `runner cache ls`")
    if len(matches) > 1:
        keys = ", ".join(m.cache_key[: len(prefix) + 4] for m in matches[:5])
        raise ValidationError(
            f"cache key prefix {prefix!r} matches {len(matches)} entries ({keys}...): "
            "give more characters"
        )
    store = open_store(settings.store_uri(), settings.storage)
    try:
        await delete_manifest(store, matches[0].cache_key)
    finally:
        await store.close()
    return matches[0]


@cache_app.command("prune")
@settings_options(*STORE_FLAGS)
def prune_command(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", metavar="AGE", help="Also remove entries older than AGE."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be removed.")
    ] = False,
) -> None:
    """Remove broken entries (unreadable, outputs gone) and, with --older-than, old ones."""
    with user_errors():
        settings = settings_of(ctx)
        age = parse_age(older_than) if older_than else None
        keys = run_async(_prune(settings, age, dry_run))
    verb = "would remove" if dry_run else "removed"
    for key in keys:
        typer.echo(f"{verb} {key}")
    typer.echo(f"{verb} {len(keys)} cache entr{'y' if len(keys) == 1 else 'ies'}", err=True)


async def _prune(settings: Settings, age: timedelta | None, dry_run: bool) -> list[str]:
    store = open_store(settings.store_uri(), settings.storage)
    try:
        return await prune(store, older_than=age, dry_run=dry_run)
    finally:
        await store.close()


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
