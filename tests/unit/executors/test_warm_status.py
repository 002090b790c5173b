"""What ``runner up --status`` says about warm workers, from the executor's status file."""

from __future__ import annotations

import os
from typing import Any

from runner.cli.up import warm_lines


def status(**extra: Any) -> dict[str, Any]:
    zygote = {
        "python": "/usr/bin/python3", "code": "6e8988181126", "pid": os.getpid(),
        "rss_mb": 50.0, "forks": 7, "running": 1, "preloaded": ["flows.train"],
        "state": "ready", "refused": None,
    }  # fmt: skip
    dead = {**zygote, "pid": 1, "state": "dead"}
    return {"executor_pid": 42, "enabled": True, "max": 4, "max_rss_mb": 1024,
            "zygotes": [zygote, dead], "cold_starts": {}, **extra}  # fmt: skip


def test_each_live_zygote_is_listed_with_its_interpreter_code_pid_memory_and_forks() -> None:
    lines = warm_lines(status(), executor_pid=42)
    assert lines[0] == "  warm workers: 1 of at most 4 (restarted past 1024 MB)"
    row = lines[1]
    for part in (f"pid {os.getpid()}", "ready", "code 6e8988181126", "forks 7", "running 1",
                 "python /usr/bin/python3", " MB"):  # fmt: skip
        assert part in row
    assert lines[2] == "      preloaded: flows.train"
    assert len(lines) == 3, "a dead zygote is not shown"


def test_cold_starts_are_counted_with_their_reasons() -> None:
    cold = {"component 'x' opted out (warm=False)": 2, "all 4 warm workers are busy": 1}
    lines = warm_lines(status(cold_starts=cold, restarts=1), executor_pid=42)
    assert lines[0].endswith("; 1 died and were replaced; 3 attempt(s) started cold")
    assert "    started cold 2x: component 'x' opted out (warm=False)" in lines
    assert "    started cold 1x: all 4 warm workers are busy" in lines


def test_a_status_file_of_another_executor_is_not_shown() -> None:
    assert warm_lines(status(), executor_pid=43) == [
        "  warm workers: none (none started yet, or RUNNER_WARM=0 where it runs)"
    ]
    assert warm_lines(None, executor_pid=42)[0].startswith("  warm workers: none")
