"""Where the controller's report key comes from, and the keys it refuses."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from runner.config import ControllerSettings, Settings
from runner.controller.keys import KEY_FILE, report_keys
from runner.errors import ConfigError


def settings(home: Path, key: str | None = None) -> Settings:
    secret = SecretStr(key) if key is not None else None
    return Settings(home=home, controller=ControllerSettings(report_key=secret))


def test_a_home_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = report_keys(settings(tmp_path / "home"))
    path = tmp_path / "home" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text()) == 64
    again = report_keys(settings(tmp_path / "home"))
    assert first.attempt_token("r", "s", 1) == again.attempt_token("r", "s", 1)


def test_controllers_starting_together_share_one_home_key(tmp_path: Path) -> None:
    tokens: list[str] = []

    def load() -> None:
        tokens.append(report_keys(settings(tmp_path / "home")).attempt_token("r", "s", 1))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 8
    assert len(set(tokens)) == 1


def test_a_configured_key_wins_over_the_home_file(tmp_path: Path) -> None:
    configured = report_keys(settings(tmp_path, "x" * 40))
    assert not (tmp_path / KEY_FILE).exists()  # no home key made when one is given
    home = report_keys(settings(tmp_path))
    assert configured.attempt_token("r", "s", 1) != home.attempt_token("r", "s", 1)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("too-short", "at least 32"),
        ("change-me-to-64-random-hex-characters-from-openssl-rand-hex-32", "placeholder"),
    ],
)
def test_weak_keys_are_refused_with_the_fix(tmp_path: Path, key: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        report_keys(settings(tmp_path, key))
    assert "openssl rand" in str(caught.value)
    assert key not in str(caught.value)  # a secret is never echoed


def test_in_a_cluster_the_key_must_be_given(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RUNNER_CONTROLLER_REPORT_KEY"):
        report_keys(settings(tmp_path), in_cluster=True)
    assert not (tmp_path / KEY_FILE).exists()
    assert report_keys(settings(tmp_path, "y" * 64), in_cluster=True) is not None
