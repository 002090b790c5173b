"""Local environments: built once with uv (offline, from tiny wheels), shared, reused,
never half-built, and failures that say what went wrong."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from runner.config import EnvironmentSettings
from runner.envs import EnvironmentFailedError, EnvironmentManager, environment_cache_key, layout
from runner.envs.manager import PreparedEnvironment
from tests.fixtures.wheels import make_wheel


async def ready(manager: EnvironmentManager, packages: list[str]) -> PreparedEnvironment:
    got = manager.prepare(packages)
    return await got if isinstance(got, asyncio.Future) else got


def version_in(env: PreparedEnvironment) -> str:
    assert env.python is not None
    code = "import runnertestpkg, runner.step.request, pydantic; print(runnertestpkg.VERSION)"
    done = subprocess.run([env.python, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_an_environment_has_the_package_and_runner_layered_below_it(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    manager = EnvironmentManager(tmp_path / "home", env_settings)
    env = await ready(manager, ["RunnerTestPkg==1.0"])
    assert version_in(env) == "1.0"
    record = layout.read_record(layout.env_dir(tmp_path / "home", env.digest))
    assert record is not None
    assert record.requirements == ["runnertestpkg==1.0"]
    assert record.freeze.strip() == "runnertestpkg==1.0"
    assert record.installer == "uv"
    assert manager.builds == 1


async def test_two_steps_asking_at_once_share_one_build(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    manager = EnvironmentManager(tmp_path / "home", env_settings)
    first = manager.prepare(["runnertestpkg==1.0"])
    second = manager.prepare(["runnertestpkg == 1.0"])
    assert isinstance(first, asyncio.Future)
    assert first is second
    assert (await first).python == (await second).python  # type: ignore[misc]
    assert manager.builds == 1


async def test_two_processes_building_the_same_set_build_it_once(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    # Two managers stand in for two processes: the flock on <digest>.lock is per file
    # description, so they exclude each other as two processes would.
    one = EnvironmentManager(tmp_path / "home", env_settings)
    two = EnvironmentManager(tmp_path / "home", env_settings)
    a, b = await asyncio.gather(
        ready(one, ["runnertestpkg==2.0"]), ready(two, ["runnertestpkg==2.0"])
    )
    assert a.digest == b.digest
    assert one.builds + two.builds == 1


async def test_a_complete_environment_is_reused_without_a_build(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    await ready(EnvironmentManager(tmp_path / "home", env_settings), ["runnertestpkg==1.0"])
    later = EnvironmentManager(tmp_path / "home", env_settings)  # a later run, a new process
    got = later.prepare(["runnertestpkg==1.0"])
    assert isinstance(got, PreparedEnvironment), "a complete environment needs no task"
    assert later.builds == 0


async def test_a_half_built_environment_is_discarded_and_rebuilt(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    manager = EnvironmentManager(tmp_path / "home", env_settings)
    digest, _ = manager.digest_of(["runnertestpkg==1.0"])
    path = layout.env_dir(tmp_path / "home", digest)
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").write_text("left by a build that was killed")
    (path / "leftover").write_text("x")
    env = await ready(manager, ["runnertestpkg==1.0"])
    assert manager.builds == 1
    assert not (path / "leftover").exists()
    assert version_in(env) == "1.0"


async def test_the_freeze_tells_pins_apart(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    manager = EnvironmentManager(tmp_path / "home", env_settings)
    one = await ready(manager, ["runnertestpkg==1.0"])
    two = await ready(manager, ["runnertestpkg==2.0"])
    assert one.freeze_digest != two.freeze_digest
    key = "ab" * 32
    assert environment_cache_key(key, one.freeze_digest) != environment_cache_key(
        key, two.freeze_digest
    )


async def test_an_unknown_requirement_fails_with_the_installers_words(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    manager = EnvironmentManager(tmp_path / "home", env_settings)
    with pytest.raises(EnvironmentFailedError) as caught:
        await ready(manager, ["nosuchpkg-xyz"])
    message = caught.value.describe("train")
    assert "component 'train'" in message
    assert "['nosuchpkg-xyz']" in message
    assert "nosuchpkg-xyz was not found" in message  # uv's own words
    assert "Fix:" in message
    assert "uv pip install" in caught.value.log
    digest, _ = manager.digest_of(["nosuchpkg-xyz"])
    assert not layout.env_dir(tmp_path / "home", digest).exists(), "nothing half-built is left"


async def test_a_failed_build_is_not_remembered(tmp_path: Path, wheels: Path) -> None:
    settings = EnvironmentSettings(find_links=[str(wheels)], offline=True)
    manager = EnvironmentManager(tmp_path / "home", settings)
    with pytest.raises(EnvironmentFailedError):
        await ready(manager, ["laterpkg"])
    make_wheel(wheels, "laterpkg", "0.1")  # the fix: the package is published
    env = await ready(manager, ["laterpkg"])
    assert env.freeze_digest
    assert manager.builds == 1


async def test_a_conflict_with_runner_own_dependencies_is_refused(
    tmp_path: Path, wheels: Path
) -> None:
    make_wheel(wheels, "needsoldpydantic", "1.0", requires=("pydantic<2",))
    manager = EnvironmentManager(
        tmp_path / "home", EnvironmentSettings(find_links=[str(wheels)], offline=True)
    )
    with pytest.raises(EnvironmentFailedError) as caught:
        await ready(manager, ["needsoldpydantic"])
    assert "pydantic" in caught.value.problem


async def test_a_build_is_stopped_at_its_timeout(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setattr("runner.envs.installer.find_uv", lambda: str(hang))
    settings = EnvironmentSettings(
        find_links=[str(wheels)], offline=True, build_timeout_seconds=0.5
    )
    manager = EnvironmentManager(tmp_path / "home", settings)
    with pytest.raises(EnvironmentFailedError) as caught:
        await ready(manager, ["runnertestpkg"])
    assert "longer than 0.5s" in caught.value.problem
    assert "RUNNER_ENVS_BUILD_TIMEOUT_SECONDS" in caught.value.describe("c")


async def test_close_stops_a_build_in_flight(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setattr("runner.envs.installer.find_uv", lambda: str(hang))
    manager = EnvironmentManager(
        tmp_path / "home", EnvironmentSettings(find_links=[str(wheels)], offline=True)
    )
    build = manager.prepare(["runnertestpkg"])
    assert isinstance(build, asyncio.Future)
    await manager.aclose()
    assert build.cancelled()


def test_the_marker_is_json_a_person_can_read(tmp_path: Path) -> None:
    assert (
        json.loads(
            layout.EnvironmentRecord(
                digest="d" * 64,
                requirements=["a"],
                python={"version": "3.11.7"},
                installer="uv",
                freeze="a==1\n",
                freeze_digest="f",
                created_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
                build_seconds=1.0,
            ).model_dump_json()
        )["freeze"]
        == "a==1\n"
    )


async def test_without_uv_pip_builds_it(
    tmp_path: Path, env_settings: EnvironmentSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runner.envs.installer.find_uv", lambda: None)
    manager = EnvironmentManager(tmp_path / "home", env_settings)
    env = await ready(manager, ["runnertestpkg==2.0"])
    assert version_in(env) == "2.0"
    record = layout.read_record(layout.env_dir(tmp_path / "home", env.digest))
    assert record is not None
    assert record.installer == "pip"
    assert record.freeze.strip() == "runnertestpkg==2.0", "only the environment's own packages"


async def test_a_home_where_no_environment_can_be_written_says_so(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "envs").write_text("not a directory")
    manager = EnvironmentManager(tmp_path / "home", env_settings)
    with pytest.raises(EnvironmentFailedError) as caught:
        await ready(manager, ["runnertestpkg"])
    assert f"check that {tmp_path / 'home' / 'envs'} is writable" in caught.value.describe("c")


async def test_what_runner_already_has_is_not_installed_again(
    tmp_path: Path, env_settings: EnvironmentSettings
) -> None:
    from importlib import metadata

    pydantic = metadata.version("pydantic")
    manager = EnvironmentManager(tmp_path / "home", env_settings)  # offline: no pydantic wheel
    env = await ready(manager, ["pydantic>=2", "runnertestpkg==1.0"])
    record = layout.read_record(layout.env_dir(tmp_path / "home", env.digest))
    assert record is not None
    assert sorted(record.freeze.split()) == [f"pydantic=={pydantic}", "runnertestpkg==1.0"]
    site = layout.site_packages_of(layout.env_dir(tmp_path / "home", env.digest))
    assert not (site / "pydantic").exists(), "provided by the layer, not copied"
    assert version_in(env) == "1.0"
