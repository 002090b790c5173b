"""Options shared by the commands, and the one way a command builds its settings.

Every command that touches the stack takes the same settings flags
(``--home``, ``--store``, ``--nats``, ``--executor``, ``--config``,
``--log-level``); :func:`build_settings` layers them over the environment and
``runner.toml`` (:func:`runner.config.load_settings`) and sets up logging.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from runner.config import Settings, load_settings

__all__ = [
    "ConfigOption",
    "ExecutorOption",
    "HomeOption",
    "JsonOption",
    "LogLevelOption",
    "NatsOption",
    "StoreOption",
    "build_settings",
    "configure_logging",
]

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        metavar="DIR",
        help="State directory of the embedded stack (env RUNNER_HOME; default .runner).",
        show_default=False,
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URI",
        help="Artifact store: file:///abs/path or s3://bucket/prefix (env RUNNER_STORE; "
        "default <home>/store).",
        show_default=False,
    ),
]
NatsOption = Annotated[
    str | None,
    typer.Option(
        "--nats",
        metavar="URL",
        help="External NATS server, e.g. nats://host:4222 (env NATS_URL; default: the "
        "embedded server under <home>/nats).",
        show_default=False,
    ),
]
ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        metavar="local|kubernetes",
        help="Where steps run (env RUNNER_EXECUTOR; default local).",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Settings file (env RUNNER_CONFIG; default ./runner.toml if present).",
        show_default=False,
    ),
]
LogLevelOption = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING or ERROR (env RUNNER_LOG_LEVEL; default WARNING).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def build_settings(
    *,
    home: Path | None = None,
    store: str | None = None,
    nats: str | None = None,
    executor: str | None = None,
    config: Path | None = None,
    log_level: str | None = None,
) -> Settings:
    """Flags > environment > runner.toml > defaults; logging set to the chosen level."""
    settings = load_settings(
        home=home,
        store=store,
        nats=nats,
        executor=executor,
        log_level=log_level,
        config_file=config,
    )
    configure_logging(settings.log_level)
    return settings


def configure_logging(level: str) -> None:
    """Library log records go to stderr as ``warning: ...`` lines, never to stdout."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname_lower)s: %(message)s"))
    handler.addFilter(_lower_level_name)
    handler.addFilter(_DropRepeats())
    root = logging.getLogger("runner")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _lower_level_name(record: logging.LogRecord) -> bool:
    record.levelname_lower = record.levelname.lower()
    return True


class _DropRepeats(logging.Filter):
    """A client retrying every second says the same thing every second: say it once."""

    def __init__(self) -> None:
        super().__init__()
        self._last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        repeated = message == self._last
        self._last = message
        return not repeated
