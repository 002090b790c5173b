"""``runner config show`` and ``runner config docs``: the settings as resolved, and their reference.

``show`` prints the effective settings after flags, environment and
``runner.toml`` are layered (secrets as ``***``, URLs without their
user-info: ``nats://user:pw@host`` shows as ``nats://host``). ``docs`` prints the
Markdown table of every setting that ``docs/configuration.md`` embeds; a
test checks the two agree.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import SecretStr
from pydantic_core import to_jsonable_python

from runner.cli.errors import user_errors
from runner.cli.options import ALL_FLAGS, JsonOption, settings_of, settings_options
from runner.config import SettingInfo, Settings, describe_settings
from runner.privacy import redact_url

__all__ = ["reference_markdown", "register"]

config_app = typer.Typer(help="Settings: flags > environment > runner.toml > defaults.")


@config_app.command("show")
@settings_options(*ALL_FLAGS)
def show_command(
    ctx: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """Print the effective settings (secrets and URL credentials hidden)."""
    with user_errors():
        settings = settings_of(ctx)
    values = effective(settings)
    if json_output:
        typer.echo(json.dumps(values, indent=2))
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        typer.echo(f"{key:<{width}}  {_shown(value)}")


def effective(settings: Settings) -> dict[str, Any]:
    """``{"home": ..., "nats.url": ..., "store.uri": ...}`` in reference order, safe to show.

    Secrets are ``***``; any URL-valued setting (the NATS URL, the store URI,
    the S3 endpoint) is shown without its user-info.
    """
    values: dict[str, Any] = {}
    for info in describe_settings():
        value = _value(settings, info.key)
        values[info.key] = "***" if isinstance(value, SecretStr) else to_jsonable_python(value)
    values["home"] = str(settings.home.resolve())
    values["store.uri"] = settings.store_uri()  # the default spelled out
    if values["nats.url"]:  # nats-py also takes `user:pw@host:4222`, with no scheme
        values["nats.url"] = redact_url(values["nats.url"])
    return {key: _redacted(value) for key, value in values.items()}


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


def _value(settings: Settings, key: str) -> Any:
    section, _, name = key.rpartition(".")
    if not section:
        return getattr(settings, name)
    # The [store] table is Settings.storage (RUNNER_STORE is the store URI itself).
    group = settings.storage if section == "store" else getattr(settings, section)
    return getattr(group, name)


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    return value if isinstance(value, str) else json.dumps(value)


@config_app.command("docs")
def docs_command() -> None:
    """Print the Markdown reference of every setting (as in docs/configuration.md)."""
    typer.echo(reference_markdown(), nl=False)


def reference_markdown(infos: list[SettingInfo] | None = None) -> str:
    """One table row per setting: runner.toml key, environment, flag, type, default, meaning."""
    rows = [
        "| runner.toml key | Environment | Flag | Type | Default | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for info in infos or describe_settings():
        env = ", ".join(f"`{e}`" for e in info.env)
        flag = f"`{info.flag}`" if info.flag else ""
        doc = info.doc.replace("``", "`").replace("|", "\\|")
        rows.append(
            f"| `{info.key}` | {env} | {flag} | {info.type.replace('|', 'or')} | "
            f"{_code(info.default)} | {doc} |"
        )
    return "\n".join(rows) + "\n"


def _code(default: str) -> str:
    return default if default == "unset" else f"`{default}`"


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
