"""Typed settings: the one place that reads the environment and ``runner.toml``.

Precedence: explicit values (CLI flags, test injection) > environment >
``runner.toml`` (in the current directory, or the file ``--config`` /
``RUNNER_CONFIG`` names) > defaults. Each settings class declares it as
pydantic-settings sources; :func:`load_settings` reads the file and, for a
bad value, says which layer it came from.
Environment names: ``RUNNER_*`` plus the ecosystem's own ``NATS_URL``,
``AWS_*`` / ``AWS_ENDPOINT_URL_S3``, ``KUBECONFIG`` and ``OTEL_*`` (read by
their libraries). With nothing set, everything is embedded under ``.runner/``.

``runner.toml`` mirrors the objects: top-level ``home``, ``executor``,
``log_level``; tables ``[nats]``, ``[store]`` (the :class:`StoreSettings`,
``Settings.storage`` in Python) and ``[local]``. Relative paths in it are
relative to the file. :func:`describe_settings` lists every setting with its
environment names, key, flag and default: ``docs/configuration.md`` is
generated from it.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import pydantic
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_core import PydanticUndefined, to_jsonable_python
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from runner.errors import ConfigError
from runner.privacy import redact_url, url_credentials
from runner.spec.models import Toleration

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "EnvironmentSettings",
    "KubernetesSettings",
    "LocalExecutorSettings",
    "NatsSettings",
    "SettingInfo",
    "Settings",
    "StoreSettings",
    "describe_settings",
    "load_settings",
    "read_config_file",
]

CONFIG_FILE = "runner.toml"
"""Looked for in the current directory when no config file is named."""
CONFIG_ENV = "RUNNER_CONFIG"
"""Environment variable naming the config file (``--config`` wins over it)."""


_CONFIG_TABLE: ContextVar[Mapping[str, Any] | None] = ContextVar("runner_toml", default=None)
"""While :func:`load_settings` runs: runner.toml, checked by :func:`read_config_file`."""


class _LayeredSettings(BaseSettings):
    """Flags (init arguments) > environment > runner.toml > defaults: pydantic-settings sources."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TableSource(settings_cls)


class _TableSource(InitSettingsSource):
    """The settings class's part of runner.toml: its table, or the top-level keys."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls, _file_values(settings_cls))

    def __call__(self) -> dict[str, Any]:
        # One layer gives each setting: a table from the environment replaces the file's.
        return {k: v for k, v in super().__call__().items() if k not in self.current_state}


class NatsSettings(_LayeredSettings):
    """How to reach NATS. No URL = start the embedded nats-server."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_NATS_",
        extra="ignore",
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    url: str | None = Field(
        default=None, validation_alias=AliasChoices("NATS_URL", "RUNNER_NATS_URL")
    )
    """``nats://host:4222`` of an external server; unset = embedded server."""
    user: str | None = None
    """Username for user/password auth."""
    password: SecretStr | None = None
    """Password for user/password auth (never logged)."""
    token: SecretStr | None = None
    """Token auth (never logged)."""
    creds_file: Path | None = None
    """A ``.creds`` file (JWT + nkey seed) for decentralised auth."""
    tls_ca: Path | None = None
    """CA bundle to verify the server's certificate (enables TLS)."""
    tls_cert: Path | None = None
    """Client certificate for mutual TLS."""
    tls_key: Path | None = None
    """Client key for mutual TLS."""
    stream: str = "RUNNER_EVENTS"
    """JetStream stream holding ``runner.events.>``."""
    stream_max_age_seconds: float = 30 * 24 * 3600.0
    """How long events are kept (the audit log and replay source)."""
    duplicate_window_seconds: float = 120.0
    """JetStream dedup window on ``Nats-Msg-Id``."""
    state_bucket: str = "runner-runs"
    """KV bucket holding run state."""
    connect_timeout_seconds: float = 5.0
    """How long to try to reach the server before giving up."""

    def step_env(self, url: str | None = None) -> dict[str, str]:
        """The ``RUNNER_NATS_*`` environment a step needs to connect as this client does.

        Holds secrets (a password or token, also one taken from the user-info
        of ``url``, default :attr:`url`): for a child process's environment
        only, never for a file or a Job spec. Like nats-py, explicit
        credentials win over the URL's.
        """
        env: dict[str, str] = {}
        if self.user:
            env["RUNNER_NATS_USER"] = self.user
        if self.password is not None:
            env["RUNNER_NATS_PASSWORD"] = self.password.get_secret_value()
        if self.token is not None:
            env["RUNNER_NATS_TOKEN"] = self.token.get_secret_value()
        user, password = url_credentials(url if url is not None else self.url or "")
        if user is not None and not ((self.user and self.password) or self.token):
            if password is None:
                env["RUNNER_NATS_TOKEN"] = user
            else:
                env["RUNNER_NATS_USER"], env["RUNNER_NATS_PASSWORD"] = user, password
        files = {
            "CREDS_FILE": self.creds_file,
            "TLS_CA": self.tls_ca,
            "TLS_CERT": self.tls_cert,
            "TLS_KEY": self.tls_key,
        }
        env.update({f"RUNNER_NATS_{k}": str(v) for k, v in files.items() if v is not None})
        return env


class StoreSettings(_LayeredSettings):
    """Where artifacts, cache manifests and code packages live."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_STORE_",
        extra="ignore",
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    uri: str | None = Field(default=None, validation_alias=AliasChoices("RUNNER_STORE"))
    """``file:///abs/path`` or ``s3://bucket/prefix``; unset = ``<home>/store``."""
    endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    )
    """S3 endpoint for MinIO or any S3-compatible store."""
    region: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    """S3 region (credentials come from the standard AWS chain, never from here)."""
    multipart_chunk_bytes: int = 8 * 1024 * 1024
    """Part size for streaming multipart uploads; memory use is bounded by it."""


class LocalExecutorSettings(_LayeredSettings):
    """How the local executor runs steps as processes on this machine."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_LOCAL_",
        extra="ignore",
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    concurrency: int | None = None
    """Steps running at once; unset = CPU count."""
    strict_gpu: bool = False
    """Refuse (fail) a step that asks for a GPU when none is available."""
    gpus: str | None = None
    """Comma-separated GPU ids to hand out; unset = detect with nvidia-smi."""
    warm: bool = Field(
        default=True, validation_alias=AliasChoices("RUNNER_WARM", "RUNNER_LOCAL_WARM")
    )
    """Start steps as forks of warm workers (one per environment and code package,
    with the step runtime and the components' modules imported); off = a new
    interpreter per step."""
    warm_max: int = Field(default=4, ge=1)
    """Warm workers kept at once; the least recently used idle one is stopped first."""
    warm_max_rss_mb: int = Field(default=1024, ge=64)
    """A warm worker whose resident memory grows past this is restarted."""


class KubernetesSettings(_LayeredSettings):
    """How the Kubernetes executor runs steps as Jobs (per cluster, never per pipeline)."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_K8S_", extra="ignore", use_attribute_docstrings=True
    )

    namespace: str = "runner"
    """Namespace the step Jobs are created in (the controller's Role must cover it)."""
    image: str = "runner:latest"
    """Step image for Python components that set no image (the runner image)."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """``imagePullPolicy`` of step containers."""
    service_account: str | None = None
    """Service account of step pods; steps never call the API (no token is mounted)."""
    image_pull_secrets: list[str] = Field(default_factory=list)
    """Names of Secrets for pulling private step images (JSON list in the environment)."""
    credentials_secret: str | None = None
    """Secret whose keys (``AWS_*``, ``RUNNER_NATS_*``) become step env via ``envFrom``."""
    config_map: str | None = None
    """ConfigMap whose keys become step env via ``envFrom`` (e.g. ``OTEL_*``)."""
    gpu_resource_name: str = "nvidia.com/gpu"
    """Extended resource a GPU request asks for (``amd.com/gpu`` for AMD nodes)."""
    accelerator_node_selectors: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Accelerator type -> node selector, e.g. ``{"nvidia-h100":
    {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}`` (JSON in the environment)."""
    accelerator_label: str | None = None
    """Node label whose value is the accelerator type, for types not listed in
    ``accelerator_node_selectors`` (e.g. ``cloud.google.com/gke-accelerator``)."""
    accelerator_tolerations: dict[str, list[Toleration]] = Field(default_factory=dict)
    """Accelerator type -> extra tolerations for its nodes (JSON in the environment)."""
    gpu_tolerations: list[Toleration] = Field(
        default_factory=lambda: [
            Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        ]
    )
    """Tolerations added to every pod that asks for a GPU (GPU nodes are usually tainted)."""
    default_cpu: str | None = "250m"
    """CPU request of a step that sets none (no limit is implied)."""
    default_memory: str | None = "256Mi"
    """Memory request of a step that sets none (no limit is implied)."""
    ttl_seconds_after_finished: int = 3600
    """Finished Jobs (and their pods and logs) are deleted after this long."""
    pending_timeout_seconds: float = 600.0
    """An unschedulable step pod (e.g. no node has the GPU) fails after this long."""
    image_pull_grace_seconds: float = 120.0
    """A step whose image cannot be pulled fails after retrying this long."""
    in_cluster: bool | None = None
    """Use the pod's service account; unset = when ``KUBERNETES_SERVICE_HOST`` is set."""
    kubeconfig: Path | None = None
    """kubeconfig file outside the cluster; unset = ``$KUBECONFIG`` or ``~/.kube/config``."""
    context: str | None = None
    """kubeconfig context; unset = its current context."""
    packages_cache_pvc: str | None = None
    """PersistentVolumeClaim mounted as uv's cache in step pods that install
    ``packages`` (shared by pods, so a wheel is downloaded once); unset = an
    emptyDir per pod (each pod downloads what it installs)."""
    packages_cache_dir: str = "/var/cache/runner-uv"
    """Where step pods keep uv's cache (``UV_CACHE_DIR``): the mount path of
    ``packages_cache_pvc`` (or of the per-pod emptyDir)."""
    packages_python_version: str | None = None
    """Python version (e.g. ``3.12``) of the step images ``packages`` are resolved
    for; unset = the controller's own (right for the runner image)."""


class EnvironmentSettings(_LayeredSettings):
    """How step environments for components' ``packages`` are built (with uv)."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_ENVS_", extra="ignore", use_attribute_docstrings=True
    )

    index_url: str | None = None
    """Package index to install ``packages`` from; unset = uv's default (PyPI, or
    ``UV_INDEX_URL``)."""
    extra_index_urls: list[str] = Field(default_factory=list)
    """Further package indexes (JSON list in the environment)."""
    find_links: list[str] = Field(default_factory=list)
    """Directories or URLs of wheels to install from (JSON list in the environment)."""
    offline: bool = False
    """Install from uv's cache and ``find_links`` only; never reach an index."""
    build_timeout_seconds: float = Field(default=900.0, gt=0)
    """How long building one environment may take before the step fails."""


class ControllerSettings(_LayeredSettings):
    """How the controller watches attempts and trusts their reports."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_CONTROLLER_", extra="ignore", use_attribute_docstrings=True
    )

    reconcile_seconds: float = Field(default=10.0, gt=0)
    """How often the controller asks the executor about attempts it believes are
    running; one that died without reporting is failed as ``Lost`` and relaunched."""
    report_key: SecretStr | None = None
    """Secret (at least 32 characters) that step reports are verified with; unset =
    a random key kept in ``<home>/report.key`` (0600). Required for a controller in
    a cluster (from the Secret ``runner-report-key``), the same for all replicas."""


class Settings(_LayeredSettings):
    """Everything runner reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="RUNNER_", extra="ignore", use_attribute_docstrings=True
    )

    home: Path = Path(".runner")
    """State directory of the embedded default (nats data, file store, pid files)."""
    executor: Literal["local", "kubernetes"] = "local"
    """Where steps run."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    """Level of runner's own log messages on stderr (case-insensitive)."""
    nats: NatsSettings = Field(default_factory=NatsSettings)
    storage: StoreSettings = Field(default_factory=StoreSettings)
    local: LocalExecutorSettings = Field(default_factory=LocalExecutorSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    envs: EnvironmentSettings = Field(default_factory=EnvironmentSettings)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def store_uri(self) -> str:
        """The store URI, defaulting to a file store under the home."""
        if self.storage.uri:
            return self.storage.uri
        return (self.home.resolve() / "store").as_uri()


# --- runner.toml and flags ---------------------------------------------------

_SECTIONS: dict[str, tuple[str, type[BaseSettings]]] = {
    "nats": ("nats", NatsSettings),
    "store": ("storage", StoreSettings),
    "local": ("local", LocalExecutorSettings),
    "kubernetes": ("kubernetes", KubernetesSettings),
    "controller": ("controller", ControllerSettings),
    "envs": ("envs", EnvironmentSettings),
}
"""runner.toml table -> (attribute of :class:`Settings`, settings class)."""
_TOP_LEVEL = ("home", "executor", "log_level")


def load_settings(
    *,
    home: Path | str | None = None,
    store: str | None = None,
    nats: str | None = None,
    executor: str | None = None,
    log_level: str | None = None,
    config_file: Path | str | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Settings from flags (the arguments) > environment > runner.toml > defaults.

    ``config_file`` (else ``$RUNNER_CONFIG``) must exist when given; otherwise
    ``runner.toml`` in ``cwd`` (default: the current directory) is read if present.
    Raises :class:`~runner.errors.ConfigError` naming the bad value and where it came from.
    """
    path = _config_path(config_file, cwd or Path.cwd())
    origin = f"{path}" if path is not None else CONFIG_FILE
    token = _CONFIG_TABLE.set(read_config_file(path) if path is not None else {})
    try:
        flags_of: dict[str, dict[str, Any]] = {"nats": {"url": nats}, "store": {"uri": store}}
        nested = {
            attribute: _layer(cls, flags_of.get(section, {}), f"{origin} [{section}]")
            for section, (attribute, cls) in _SECTIONS.items()
        }
        top_flags = {"home": home, "executor": executor, "log_level": log_level}
        return _layer(Settings, top_flags, origin, nested)
    finally:
        _CONFIG_TABLE.reset(token)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse and check ``runner.toml``: known keys only, relative paths made absolute."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    checked: dict[str, Any] = {}
    for key, value in table.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: '{key}' must be a table ([{key}]), not a value")
            cls = _SECTIONS[key][1]
            checked[key] = _check_keys(path, f"[{key}] ", value, cls)
        elif key in _TOP_LEVEL:
            checked.update(_check_keys(path, "", {key: value}, Settings))
        else:
            known = ", ".join([*_TOP_LEVEL, *(f"[{s}]" for s in _SECTIONS)])
            raise ConfigError(f"{path}: unknown setting '{key}'; known: {known}")
    return checked


def _check_keys(
    path: Path, where: str, values: dict[str, Any], cls: type[BaseSettings]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in cls.model_fields:
            known = ", ".join(cls.model_fields)
            raise ConfigError(f"{path}: unknown setting {where}'{key}'; known: {known}")
        if isinstance(value, str) and _is_path_field(cls, key) and not Path(value).is_absolute():
            value = str((path.parent / value).resolve())
        out[key] = value
    return out


def _is_path_field(cls: type[BaseSettings], name: str) -> bool:
    annotation = cls.model_fields[name].annotation
    return annotation is Path or Path in typing.get_args(annotation)


def _config_path(explicit: Path | str | None, cwd: Path) -> Path | None:
    named = explicit if explicit is not None else os.environ.get(CONFIG_ENV) or None
    if named is not None:
        path = Path(named).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise ConfigError(
                f"config file {named} does not exist: fix --config / {CONFIG_ENV}, or drop it"
            )
        return path
    default = cwd / CONFIG_FILE
    return default if default.is_file() else None


def _file_values(cls: type[BaseSettings]) -> dict[str, Any]:
    table = _CONFIG_TABLE.get() or {}
    if cls is Settings:
        return {k: v for k, v in table.items() if k in _TOP_LEVEL}
    section = next((s for s, (_, c) in _SECTIONS.items() if c is cls), None)
    return dict(table.get(section, {})) if section else {}


_S = TypeVar("_S", bound=BaseSettings)


def _layer(
    cls: type[_S], flags: Mapping[str, Any], origin: str, parts: Mapping[str, Any] | None = None
) -> _S:
    """``cls`` from its sources; a bad value is reported with the layer it came from."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return cls(**given, **(parts or {}))
    except pydantic.ValidationError as exc:
        raise _config_error(exc, cls, given, origin) from None
    except SettingsError as exc:  # a list or table in the environment that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        names = " / ".join(_env_names(cls, field[1])) if field else "an environment variable"
        raise ConfigError(
            f"{names} is not valid JSON ({exc.__cause__}): fix it there (runner config docs)"
        ) from None


def _config_error(
    exc: pydantic.ValidationError, cls: type[BaseSettings], flags: Mapping[str, Any], origin: str
) -> ConfigError:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "?"
    # A value is reported under its alias (NATS_URL): map it back.
    field = _field_named(cls, name)
    name = field or name
    from_env = {_field_named(cls, key) for key in EnvSettingsSource(cls)()}
    if name in flags:
        origin = "command-line flag"
    elif field is not None and field in from_env:
        origin = "environment variable " + " / ".join(_env_names(cls, field))
    elif name not in _file_values(cls):
        origin = "defaults"
    value = error.get("input")
    if field and _is_secret(cls, field):
        shown = "***"
    else:
        shown = repr(redact_url(value) if isinstance(value, str) else value)
    return ConfigError(
        f"setting '{name}' = {shown} from {origin} is invalid: {error['msg']}; fix it there"
    )


def _field_named(cls: type[BaseSettings], name: str) -> str | None:
    return next((f for f in cls.model_fields if name == f or name in _env_names(cls, f)), None)


def _is_secret(cls: type[BaseSettings], name: str) -> bool:
    annotation = cls.model_fields[name].annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _env_names(cls: type[BaseSettings], name: str) -> list[str]:
    alias = cls.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [(prefix + name).upper()]


# --- the reference (docs/configuration.md is generated from it) --------------

_FLAGS = {
    "home": "--home",
    "executor": "--executor",
    "log_level": "--log-level",
    "nats.url": "--nats",
    "store.uri": "--store",
}


@dataclass(frozen=True)
class SettingInfo:
    """One setting as a user sees it."""

    key: str
    """The runner.toml key: ``home`` or ``section.name``."""
    env: tuple[str, ...]
    flag: str | None
    type: str
    default: str
    doc: str


def describe_settings() -> list[SettingInfo]:
    """Every setting, in declaration order, for docs and ``runner config``."""
    groups: list[tuple[str, type[BaseSettings]]] = [("", Settings)]
    groups += [(section, cls) for section, (_, cls) in _SECTIONS.items()]
    found: list[SettingInfo] = []
    for section, cls in groups:
        for name, field in cls.model_fields.items():
            if section == "" and name not in _TOP_LEVEL:
                continue
            key = f"{section}.{name}" if section else name
            found.append(
                SettingInfo(
                    key=key,
                    env=tuple(_env_names(cls, name)),
                    flag=_FLAGS.get(key),
                    type=_type_name(field.annotation),
                    default=_default_text(field.get_default(call_default_factory=True)),
                    doc=" ".join((field.description or "").split()),
                )
            )
    return found


def _type_name(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType) and len(args) == 1:
        return _type_name(args[0])
    if origin in (list, dict):
        return f"{'list' if origin is list else 'table'} (JSON in the environment)"
    names = {Path: "path", SecretStr: "secret", str: "string", int: "integer", float: "number"}
    return names.get(annotation, "boolean" if annotation is bool else str(annotation))


def _default_text(value: Any) -> str:
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()  # as written in TOML and accepted from the environment
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return json.dumps(to_jsonable_python(value, exclude_none=True), separators=(", ", ": "))
    return str(value)
