"""The tracing-overhead benchmark's step-like process still runs (one of each)."""

from __future__ import annotations

from pathlib import Path

from bench.tracing_overhead import step_process_seconds


def test_the_step_like_process_runs_with_tracing_off_and_to_the_file(tmp_path: Path) -> None:
    times = step_process_seconds(("off", "file"), 1, tmp_path, "")
    assert set(times) == {"off", "file"}
    assert all(len(found) == 1 for found in times.values())
    assert [p.name for p in tmp_path.iterdir()] == ["bench"]  # the file mode wrote its spans
