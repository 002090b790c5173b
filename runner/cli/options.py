"""The settings flags, declared once, and the one way a command gets its settings.

Every command that touches the stack takes settings flags (``--home``,
``--store``, ``--nats``, ``--executor``, ``--config``, ``--log-level``;
each command the ones it uses) after its own arguments, as in
``runner status RUN --home H``. They are declared here once:
:func:`settings_options` adds the chosen ones to a command's parameters (so
``runner CMD --help`` lists them) and puts what was given into ``ctx.obj``, a
:class:`CliContext`; the command reads its settings with :func:`settings_of`.
They are built once, on first use, by :func:`build_settings`: the flags
layered over the environment and ``runner.toml``
(:func:`runner.config.load_settings`), and logging set up. A command reads
them inside its ``user_errors()`` block, so a bad setting is one
``error: ...`` line, in the same place as before.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from runner.config import Settings, load_settings

__all__ = [
    "ALL_FLAGS",
    "NATS_FLAGS",
    "READ_FLAGS",
    "STORE_FLAGS",
    "CliContext",
    "ConfigOption",
    "ExecutorOption",
    "Flag",
    "HomeOption",
    "JsonOption",
    "LogLevelOption",
    "NatsOption",
    "StoreOption",
    "build_settings",
    "configure_logging",
    "settings_of",
    "settings_options",
]

R = TypeVar("R")

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

Flag = Literal["home", "store", "nats", "executor", "config", "log_level"]
"""A settings flag, by its parameter name (``log_level`` is ``--log-level``)."""

_OPTIONS: dict[Flag, Any] = {
    "home": HomeOption,
    "store": StoreOption,
    "nats": NatsOption,
    "executor": ExecutorOption,
    "config": ConfigOption,
    "log_level": LogLevelOption,
}

ALL_FLAGS: tuple[Flag, ...] = ("home", "store", "nats", "executor", "config", "log_level")
"""What ``run``, ``up``, ``controller`` and ``config show`` take: every flag."""
READ_FLAGS: tuple[Flag, ...] = ("home", "nats", "store", "config")
"""Commands that read or change what the stack holds (runs, events, schedules...)."""
STORE_FLAGS: tuple[Flag, ...] = ("home", "store", "config")
"""Commands that need only the store (``cache``, ``pipeline``)."""
NATS_FLAGS: tuple[Flag, ...] = ("home", "nats", "config")
"""Commands that need only NATS (stored triggers and sinks)."""


@dataclass
class CliContext:
    """``ctx.obj`` of a command: the settings flags it was given, its settings built once."""

    flags: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = field(default=None, init=False, repr=False)

    @property
    def settings(self) -> Settings:
        """The flags over the environment and ``runner.toml``; logging set up (first use)."""
        if self._settings is None:
            self._settings = build_settings(**self.flags)
        return self._settings


def settings_options(*flags: Flag) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a command the settings flags ``flags`` (after its own parameters, in this order).

    The command takes a ``ctx: typer.Context`` and reads its settings with
    ``settings_of(ctx)``; it does not see the flags themselves. Typer reads a
    command's parameters from its signature, so the flags are added there.
    """

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        signature = inspect.signature(command, eval_str=True)
        context = _context_parameter(command, signature)
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_OPTIONS[name]
            )
            for name in flags
        ]

        @functools.wraps(command)
        def with_settings(*args: Any, **kwargs: Any) -> R:
            kwargs[context].obj = CliContext({name: kwargs.pop(name) for name in flags})
            return command(*args, **kwargs)

        with_settings.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), *added]
        )
        return with_settings

    return decorate


def settings_of(ctx: typer.Context) -> Settings:
    """The settings of the command running in ``ctx`` (built on the first call)."""
    obj = ctx.obj
    if not isinstance(obj, CliContext):
        raise TypeError(f"`{ctx.command_path}` has no settings flags: add @settings_options(...)")
    return obj.settings


def _context_parameter(command: Callable[..., Any], signature: inspect.Signature) -> str:
    for parameter in signature.parameters.values():
        if isinstance(parameter.annotation, type) and issubclass(
            parameter.annotation, typer.Context
        ):
            return parameter.name
    raise TypeError(
        f"{command.__qualname__} needs a `ctx: typer.Context` parameter for its settings"
    )


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
