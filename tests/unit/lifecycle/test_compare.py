"""runs compare: parameters and metrics side by side, differences, the union, the plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli.runs_compare import comparison_lines
from runner.errors import ValidationError
from runner.lifecycle.compare import compare_runs, metric_values, plot_metrics
from runner.records import RunRecord
from tests.unit.lifecycle.factories import run_state


def record(run_id: str, **kwargs: object) -> RunRecord:
    return RunRecord.from_state(run_state(run_id, **kwargs))  # type: ignore[arg-type]


def test_parameters_and_metrics_side_by_side_with_differences() -> None:
    a = record("a", params={"lr": 0.1, "rows": 10}, metrics={"accuracy": 0.9, "loss": 0.2})
    b = record("b", params={"lr": 0.5, "rows": 10}, metrics={"accuracy": 0.95, "loss": 0.2})
    comparison = compare_runs([a, b])
    assert comparison.params == {"lr": {"a": 0.1, "b": 0.5}, "rows": {"a": 10, "b": 10}}
    assert comparison.metrics["train.accuracy"] == {"a": 0.9, "b": 0.95}
    assert comparison.different == {"lr", "train.accuracy"}
    assert comparison.note is None
    out = comparison.to_json()
    assert out["different"] == {"params": ["lr"], "metrics": ["train.accuracy"]}
    text = "\n".join(comparison_lines(comparison))
    assert "* lr" in text
    assert "  rows" in text
    assert "* train.accuracy" in text
    assert "2 row(s) differ" in text


def test_runs_of_different_pipelines_show_the_union_and_say_so() -> None:
    a = record("a", pipeline="iris", params={"lr": 0.1}, metrics={"accuracy": 0.9})
    b = record("b", pipeline="toy", params={"n": 3}, metrics={})
    comparison = compare_runs([a, b])
    assert set(comparison.params) == {"lr", "n"}
    assert comparison.different == {"lr", "n", "train.accuracy"}
    assert comparison.note is not None
    assert "iris, toy" in comparison.note
    text = "\n".join(comparison_lines(comparison))
    assert "note: runs of different pipelines" in text
    assert any(line.split()[-1] == "-" for line in text.splitlines() if "lr" in line)


def test_fewer_than_two_or_repeated_runs_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least two"):
        compare_runs([record("a")])
    with pytest.raises(ValidationError, match="twice"):
        compare_runs([record("a"), record("a")])


def test_metrics_are_named_by_step() -> None:
    assert metric_values(record("a", metrics={"f1": 0.5})) == {"train.f1": 0.5}


def test_plot_writes_a_png_of_the_numeric_metrics(tmp_path: Path) -> None:
    a = record("a", metrics={"accuracy": 0.9, "note": "text"})  # type: ignore[dict-item]
    b = record("b", metrics={"accuracy": 0.8})
    path = tmp_path / "out" / "plot.png"
    drawn = plot_metrics(compare_runs([a, b]), path)
    assert drawn == ["train.accuracy"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nothing_numeric_to_plot_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="nothing to plot"):
        plot_metrics(compare_runs([record("a"), record("b")]), tmp_path / "p.png")
