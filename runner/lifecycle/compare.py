"""Runs side by side: parameters and logged metrics, differences marked, and a plot.

:func:`compare_runs` is pure (run records in, a :class:`Comparison` out).
Metrics are the values logged to each step's ``Metrics`` artifacts, named
``<step>.<metric>`` (``<step>.<artifact>.<metric>`` when a step has several
``Metrics`` outputs). Runs of different pipelines may be compared: the rows
are the union of their parameters and metrics, a run without one shows
nothing there, and :attr:`Comparison.note` says so.

:func:`plot_metrics` draws each numeric metric across the runs into a PNG
with matplotlib's Agg canvas (no display, no pyplot global state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, ValidationError
from runner.records import RunRecord

__all__ = ["Comparison", "compare_runs", "metric_values", "plot_metrics"]

_MISSING: Any = object()


@dataclass(frozen=True)
class Comparison:
    runs: list[RunRecord]
    params: dict[str, dict[str, Any]]
    """Parameter -> run id -> value (runs without the parameter are left out)."""
    metrics: dict[str, dict[str, Any]]
    """Metric -> run id -> value."""
    different: set[str]
    """Parameter and metric rows whose values are not all the same (or not all there)."""
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": [
                {
                    "run_id": r.run_id,
                    "pipeline": r.pipeline,
                    "version": r.version,
                    "digest": r.digest,
                    "experiment": r.experiment,
                    "status": r.status.value,
                    "created_at": r.created_at.isoformat(),
                    "duration_seconds": r.duration_seconds,
                }
                for r in self.runs
            ],
            "params": self.params,
            "metrics": self.metrics,
            "different": {
                "params": sorted(k for k in self.params if k in self.different),
                "metrics": sorted(k for k in self.metrics if k in self.different),
            },
            "note": self.note,
        }


def metric_values(record: RunRecord) -> dict[str, Any]:
    """The metrics logged by ``record``'s steps, flattened to ``step.metric`` names."""
    found: dict[str, Any] = {}
    for step in record.steps.values():
        several = len(step.metrics) > 1
        for artifact, logged in step.metrics.items():
            for name, value in logged.items():
                key = f"{step.name}.{artifact}.{name}" if several else f"{step.name}.{name}"
                found[key] = value
    return found


def compare_runs(records: list[RunRecord]) -> Comparison:
    if len(records) < 2:
        raise ValidationError("give at least two runs to compare (runner runs compare RUN RUN)")
    ids = [r.run_id for r in records]
    if len(set(ids)) != len(ids):
        raise ValidationError("a run is given twice: compare distinct runs")
    params = _rows({r.run_id: dict(r.params) for r in records})
    metrics = _rows({r.run_id: metric_values(r) for r in records})
    different = {k for k, row in (params | metrics).items() if _differs(row, ids)}
    pipelines = sorted({r.pipeline for r in records})
    note = None
    if len(pipelines) > 1:
        note = (
            f"runs of different pipelines ({', '.join(pipelines)}): showing the union of their "
            "parameters and metrics; '-' marks one a run does not have"
        )
    return Comparison(list(records), params, metrics, different, note)


def _rows(per_run: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for run_id, values in per_run.items():
        for name, value in values.items():
            rows.setdefault(name, {})[run_id] = value
    return dict(sorted(rows.items()))


def _differs(row: dict[str, Any], ids: list[str]) -> bool:
    values = [row.get(i, _MISSING) for i in ids]
    return any(v is _MISSING or v != values[0] for v in values)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def plot_metrics(comparison: Comparison, path: Path) -> list[str]:
    """Write a PNG with one panel per numeric metric (a bar per run); returns the
    metrics drawn. ValidationError when there is nothing numeric to draw."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError(
            "--plot needs matplotlib: pip install 'runner[plot]' (or matplotlib)"
        ) from exc
    ids = [r.run_id for r in comparison.runs]
    drawable = {
        name: row
        for name, row in comparison.metrics.items()
        if any(_numeric(row.get(i)) is not None for i in ids)
    }
    if not drawable:
        raise ValidationError(
            "nothing to plot: these runs logged no numeric metrics (log them with "
            "metrics.log_metric(name, value) in a component with an Output[Metrics])"
        )
    columns = min(3, len(drawable))
    rows = math.ceil(len(drawable) / columns)
    figure = Figure(figsize=(4.5 * columns, 3.2 * rows + 0.4 * len(ids) / 4), layout="tight")
    FigureCanvasAgg(figure)
    labels = [_label(i) for i in ids]
    for n, (name, row) in enumerate(drawable.items()):
        axes = figure.add_subplot(rows, columns, n + 1)
        heights = [_numeric(row.get(i)) for i in ids]
        bars = axes.bar(labels, [h if h is not None else 0.0 for h in heights])
        for bar, height in zip(bars, heights, strict=True):
            if height is None:
                bar.set_alpha(0.0)  # the run has no such metric: leave a gap
        axes.set_title(name, fontsize=10)
        axes.tick_params(axis="x", labelrotation=30, labelsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return list(drawable)


def _label(run_id: str) -> str:
    return run_id if len(run_id) <= 24 else "…" + run_id[-22:]
