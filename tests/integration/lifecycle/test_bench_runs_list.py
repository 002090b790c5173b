"""W5 measures what it says: runs listed through the index, filtered, by the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import runs_list_line, summary
from bench.runs_list import runs_list

pytestmark = pytest.mark.integration


async def test_w5_lists_the_recorded_runs(tmp_path: Path) -> None:
    result = await runs_list(120, tmp_path / "home", reps=1)
    assert result.error is None
    assert len(result.samples) == 1
    for key in ("experiment_filter_seconds", "status_filter_seconds", "cli_seconds"):
        assert result.extra[key] is not None
    assert result.extra["runs"] == 120
    line = runs_list_line([result])
    assert line is not None
    assert line.startswith("W5 runs list, 120 runs:")
    assert summary([result])["w5-runs-list"]["runs"] == 120
