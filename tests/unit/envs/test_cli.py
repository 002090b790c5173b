"""``runner environments ls | rm | prune`` on a home with complete, half-built and
in-progress environments (made by hand: the commands only read the layout)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli.app import app
from runner.envs import layout

OLD, NEW, HALF, BUSY = ("a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32)


def complete(home: Path, digest: str, requirements: list[str], used_days_ago: float) -> Path:
    path = layout.env_dir(home, digest)
    (path / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (path / "lib" / "python3.11" / "site-packages" / "mod.py").write_text("x = 1\n" * 100)
    layout.write_record(
        path,
        layout.EnvironmentRecord(
            digest=digest,
            requirements=requirements,
            python={"version": "3.11.7", "implementation": "cpython", "executable": "/py"},
            installer="uv",
            freeze="".join(f"{r.split('=')[0]}==1.0\n" for r in requirements),
            freeze_digest="f" * 64,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            build_seconds=1.5,
        ),
    )
    layout.touch_used(path)
    when = time.time() - used_days_ago * 86400
    os.utime(path / layout.LAST_USED, (when, when))
    return path


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    complete(home, OLD, ["tabulate==0.9"], used_days_ago=30)
    complete(home, NEW, ["numpy>=1", "pandas"], used_days_ago=0)
    (layout.env_dir(home, HALF) / "bin").mkdir(parents=True)  # a build that was killed
    busy = layout.env_dir(home, BUSY)
    (busy / "bin").mkdir(parents=True)  # being built right now
    fd = os.open(layout.lock_path(busy), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield home
    finally:
        os.close(fd)


def cli(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["environments", *args, "--home", str(home)])
    return result.exit_code, result.stdout, result.stderr


def test_ls_shows_each_environment_most_recently_used_first(home: Path) -> None:
    code, out, _ = cli(home, "ls")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["DIGEST", "REQUIREMENTS", "PYTHON", "SIZE", "LAST", "USED",
                                "CREATED"]  # fmt: skip
    by_digest = {line[:12]: n for n, line in enumerate(lines)}
    new, old = lines[by_digest[NEW[:12]]], lines[by_digest[OLD[:12]]]
    assert by_digest[NEW[:12]] < by_digest[OLD[:12]]
    assert "numpy>=1 pandas" in new
    assert "3.11.7" in new
    assert "2026-01-01" in new
    assert "tabulate==0.9" in old
    assert sum("(half-built)" in line for line in lines) == 2


def test_ls_json(home: Path) -> None:
    code, out, _ = cli(home, "ls", "--json")
    assert code == 0
    entries = {e["digest"]: e for e in json.loads(out)}
    assert entries[OLD]["requirements"] == ["tabulate==0.9"]
    assert entries[OLD]["freeze"] == ["tabulate==1.0"]
    assert entries[OLD]["complete"] is True
    assert entries[OLD]["size"] > 0
    assert entries[HALF]["complete"] is False


def test_ls_of_an_empty_home(tmp_path: Path) -> None:
    code, out, err = cli(tmp_path, "ls")
    assert code == 0
    assert out == ""
    assert "no environments" in err


def test_rm_by_prefix(home: Path) -> None:
    code, out, _ = cli(home, "rm", OLD[:6])
    assert code == 0, out
    assert f"removed environment {OLD} (tabulate==0.9)" in out
    assert not layout.env_dir(home, OLD).exists()
    assert layout.env_dir(home, NEW).exists()


def test_rm_refuses_an_ambiguous_unknown_or_busy_digest(home: Path) -> None:
    code, _, err = cli(home, "rm", "zz")
    assert code != 0
    assert "no environment with digest 'zz'" in err
    complete(home, "a1" + "ff" * 31, ["x"], used_days_ago=0)
    code, _, err = cli(home, "rm", "a1")
    assert code != 0
    assert "matches 2 environments" in err
    code, _, err = cli(home, "rm", BUSY[:8])
    assert code != 0
    assert "being built right now" in err
    assert layout.env_dir(home, BUSY).exists()


def test_prune_removes_half_built_ones_but_not_one_being_built(home: Path) -> None:
    code, out, err = cli(home, "prune", "--dry-run")
    assert code == 0
    assert out.splitlines() == [f"would remove {HALF} ((half-built))"]
    assert "would remove 1 environment" in err
    assert layout.env_dir(home, HALF).exists()
    code, out, _ = cli(home, "prune")
    assert code == 0
    assert not layout.env_dir(home, HALF).exists()
    assert layout.env_dir(home, BUSY).exists()
    assert layout.env_dir(home, OLD).exists()


def test_prune_older_than_removes_unused_ones(home: Path) -> None:
    code, _, err = cli(home, "prune", "--older-than", "7d")
    assert code == 0
    assert not layout.env_dir(home, OLD).exists()
    assert layout.env_dir(home, NEW).exists()
    assert "removed 2 environments" in err
    code, _, err = cli(home, "prune", "--older-than", "soon")
    assert code != 0
    assert "is not an age" in err
