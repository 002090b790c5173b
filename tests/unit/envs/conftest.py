"""Fixtures: tiny wheels in a local directory, and settings that install only from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import EnvironmentSettings
from tests.fixtures.wheels import make_wheel


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """``runnertestpkg`` 1.0 and 2.0 (a module whose ``VERSION`` says which)."""
    directory = tmp_path / "wheels"
    make_wheel(directory, "runnertestpkg", "1.0")
    make_wheel(directory, "runnertestpkg", "2.0")
    return directory


@pytest.fixture
def env_settings(wheels: Path) -> EnvironmentSettings:
    return EnvironmentSettings(find_links=[str(wheels)], offline=True)
