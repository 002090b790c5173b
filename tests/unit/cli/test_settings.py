"""Settings precedence: flags > environment > runner.toml > defaults, and the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import describe_settings, load_settings
from runner.errors import ConfigError

TOML = """
home = "state"
executor = "local"
log_level = "info"

[nats]
url = "nats://from-toml:4222"
creds_file = "secrets/user.creds"

[store]
uri = "s3://bucket/prefix"
endpoint_url = "http://minio:9000"

[local]
concurrency = 3
"""


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "RUNNER_HOME",
        "RUNNER_STORE",
        "NATS_URL",
        "RUNNER_NATS_URL",
        "RUNNER_CONFIG",
        "RUNNER_EXECUTOR",
        "RUNNER_LOG_LEVEL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "RUNNER_LOCAL_CONCURRENCY",
        "RUNNER_WARM",
        "RUNNER_LOCAL_WARM",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_any_configuration(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path)
    assert settings.home == Path(".runner")
    assert settings.executor == "local"
    assert settings.nats.url is None
    assert settings.storage.uri is None
    assert settings.local.concurrency is None
    assert settings.log_level == "WARNING"


def test_runner_toml_in_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "runner.toml").write_text(TOML)
    settings = load_settings(cwd=tmp_path)
    assert settings.home == tmp_path / "state", "relative paths are relative to the file"
    assert settings.nats.url == "nats://from-toml:4222"
    assert settings.nats.creds_file == tmp_path / "secrets" / "user.creds"
    assert settings.storage.uri == "s3://bucket/prefix"
    assert settings.storage.endpoint_url == "http://minio:9000"
    assert settings.local.concurrency == 3
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("toml", "env", "warm"),
    [
        ("", {}, True),
        ("[local]\nwarm = false\n", {}, False),
        ("", {"RUNNER_WARM": "0"}, False),
        ("", {"RUNNER_LOCAL_WARM": "false"}, False),
        ("[local]\nwarm = false\n", {"RUNNER_WARM": "1"}, True),
    ],
)
def test_warm_workers_follow_the_file_and_both_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, env: dict[str, str], warm: bool
) -> None:
    """A field with environment aliases is still set by its own name in runner.toml."""
    (tmp_path / "runner.toml").write_text(toml)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(cwd=tmp_path).local.warm is warm


def test_environment_beats_the_file_and_flags_beat_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "runner.toml").write_text(TOML)
    monkeypatch.setenv("NATS_URL", "nats://from-env:4222")
    monkeypatch.setenv("RUNNER_HOME", "/env/home")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://env-minio:9000")
    monkeypatch.setenv("RUNNER_LOCAL_CONCURRENCY", "5")
    settings = load_settings(cwd=tmp_path)
    assert settings.nats.url == "nats://from-env:4222"
    assert settings.home == Path("/env/home")
    assert settings.storage.endpoint_url == "http://env-minio:9000"
    assert settings.storage.uri == "s3://bucket/prefix", "the file still fills the rest"
    assert settings.local.concurrency == 5

    flagged = load_settings(
        cwd=tmp_path, nats="nats://flag:1", home="flag-home", store="file:///flag", executor="local"
    )
    assert flagged.nats.url == "nats://flag:1"
    assert flagged.home == Path("flag-home")
    assert flagged.store_uri() == "file:///flag"


def test_config_file_named_by_flag_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "conf" / "other.toml"
    other.parent.mkdir()
    other.write_text('home = "h"\n')
    assert load_settings(cwd=tmp_path, config_file=other).home == other.parent / "h"
    monkeypatch.setenv("RUNNER_CONFIG", str(other))
    assert load_settings(cwd=tmp_path).home == other.parent / "h"
    with pytest.raises(ConfigError, match=r"config file nope\.toml does not exist"):
        load_settings(cwd=tmp_path, config_file="nope.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("homes = 'x'\n", "unknown setting 'homes'; known: home, executor, log_level, [nats]"),
        ("[nats]\nuri = 'x'\n", "unknown setting [nats] 'uri'; known: url, user"),
        ("[s3]\nuri = 'x'\n", "unknown setting 's3'"),
        ("nats = 'x'\n", "'nats' must be a table"),
        ("home = \n", "is not valid TOML"),
        ("[local]\nconcurrency = 'many'\n", "setting 'concurrency' = 'many' from"),
        ("executor = 'cloud'\n", "setting 'executor' = 'cloud' from"),
    ],
)
def test_mistakes_in_the_file_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "runner.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path)
    assert message in str(caught.value)


def test_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNER_LOCAL_CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match="environment variable RUNNER_LOCAL_CONCURRENCY"):
        load_settings(cwd=tmp_path)


def test_bad_flag_says_so_and_secrets_are_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="'k8s' from command-line flag"):
        load_settings(cwd=tmp_path, executor="k8s")
    (tmp_path / "runner.toml").write_text("[nats]\npassword = 42\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path)
    assert "42" not in str(caught.value)


def test_reference_lists_every_field_with_env_names_and_flags() -> None:
    infos = {info.key: info for info in describe_settings()}
    assert infos["nats.url"].env == ("NATS_URL", "RUNNER_NATS_URL")
    assert infos["nats.url"].flag == "--nats"
    assert infos["store.uri"].env == ("RUNNER_STORE",)
    assert infos["store.endpoint_url"].env[0] == "AWS_ENDPOINT_URL_S3"
    assert infos["home"].default == ".runner"
    assert infos["executor"].type == "local | kubernetes"
    assert infos["nats.password"].type == "secret"
    assert all(info.doc for info in infos.values()), "every setting has a docstring"


def test_a_table_from_the_environment_replaces_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "runner.toml").write_text(
        '[kubernetes]\naccelerator_node_selectors = {a = {x = "1"}, b = {y = "2"}}\n'
    )
    assert load_settings(cwd=tmp_path).kubernetes.accelerator_node_selectors == {
        "a": {"x": "1"},
        "b": {"y": "2"},
    }
    monkeypatch.setenv("RUNNER_K8S_ACCELERATOR_NODE_SELECTORS", '{"a": {"z": "3"}}')
    selectors = load_settings(cwd=tmp_path).kubernetes.accelerator_node_selectors
    assert selectors == {"a": {"z": "3"}}, "each setting from one layer, not merged"


def test_a_flag_overrides_a_bad_environment_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNER_EXECUTOR", "k8s")
    assert load_settings(cwd=tmp_path, executor="local").executor == "local"
    with pytest.raises(ConfigError, match="'k8s' from environment variable RUNNER_EXECUTOR"):
        load_settings(cwd=tmp_path)


def test_environment_json_that_does_not_parse_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNER_K8S_IMAGE_PULL_SECRETS", "[regcred")
    with pytest.raises(ConfigError, match="RUNNER_K8S_IMAGE_PULL_SECRETS is not valid JSON"):
        load_settings(cwd=tmp_path)
