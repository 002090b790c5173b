"""``runner up`` and its warm workers: the ready line, ``runner up --status``, a clean stop."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from runner.process_identity import ProcessIdentity
from tests.e2e.conftest import Background, Workspace
from tests.e2e.pipelines import SMALL
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def test_runner_up_status_lists_its_warm_workers_and_they_stop_with_it(
    ws: Workspace, background: Callable[..., Background]
) -> None:
    ws.write("small.py", SMALL)
    status = ws.run("up", "--status", "--home", "stack")
    assert status.returncode == 2, status
    assert "no `runner up` runs for" in status.stderr

    up = background("up", "--home", "stack")
    up.wait_for_line(lambda line: line.startswith("ready"), timeout=60)
    assert "  warm workers: on, at most 4, restarted past 1024 MB" in up.output
    status = ws.run("up", "--status", "--home", "stack")
    assert status.returncode == 0, status
    assert "warm workers: none" in status.stdout

    for _ in range(2):
        run = ws.run("run", "small.py", "--home", "stack", "--plain", "--no-cache")
        assert run.returncode == 0, run
    pattern = re.compile(r"pid (\d+)  ready  code [0-9a-f]{12}  rss \d+ MB  forks 4 ")

    def listed() -> re.Match[str] | None:
        # Written as each attempt ends, which may be just after its run did.
        status = ws.run("up", "--status", "--home", "stack")
        assert status.returncode == 0, status
        assert "warm workers: 1 of at most 4" in status.stdout, status.stdout
        return pattern.search(status.stdout)

    row = wait_until(listed, "runner up --status to count 4 forks", timeout=30)
    zygote = ProcessIdentity.of(int(row[1]))
    assert zygote is not None

    assert up.interrupt() == 0, up.output
    assert not zygote.alive(), "the warm worker stops with runner up"
