"""Data components: load a dataset, check it, split it.

Datasets travel between steps as CSV files with a header row; the last
column is the integer class label (``target``).
"""

from __future__ import annotations

import csv
from typing import NamedTuple

from runner import Dataset, Input, Output, component

DATASETS = ("iris", "wine", "breast_cancer", "digits")


def _read_csv(path: str) -> tuple[list[str], list[list[float]]]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [[float(v) for v in row] for row in reader]
    return header, rows


def _write_csv(path: str, header: list[str], rows: list[list[float]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@component(packages=["scikit-learn"])
def ingest(dataset: str, data: Output[Dataset]) -> int:
    """Load one of scikit-learn's bundled datasets (no download) as CSV."""
    from sklearn import datasets

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    bunch = getattr(datasets, f"load_{dataset}")()
    header = [str(n).replace(" ", "_") for n in bunch.feature_names] + ["target"]
    rows = [[*map(float, x), float(y)] for x, y in zip(bunch.data, bunch.target, strict=True)]
    _write_csv(data.path, header, rows)
    data.metadata.update({"dataset": dataset, "rows": len(rows), "columns": len(header)})
    return len(rows)


class ValidationReport(NamedTuple):
    rows: int
    classes: int


@component
def validate(data: Input[Dataset], min_rows: int = 50) -> ValidationReport:
    """Schema and value checks; fails with a message naming the bad row/column."""
    import math

    header, rows = _read_csv(data.path)
    if not header or header[-1] != "target":
        raise ValueError(f"dataset {data.uri}: the last column must be 'target', got {header[-1:]}")
    if len(rows) < min_rows:
        raise ValueError(f"dataset {data.uri}: {len(rows)} rows, at least {min_rows} needed")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"dataset {data.uri} line {number}: {len(row)} values, expected {len(header)}"
            )
        bad = [h for h, v in zip(header, row, strict=True) if not math.isfinite(v)]
        if bad:
            raise ValueError(f"dataset {data.uri} line {number}: non-finite value in {bad[0]}")
        if row[-1] != int(row[-1]) or row[-1] < 0:
            raise ValueError(f"dataset {data.uri} line {number}: target must be a class index")
    classes = len({int(r[-1]) for r in rows})
    if classes < 2:
        raise ValueError(f"dataset {data.uri}: only {classes} class; a classifier needs two")
    return ValidationReport(rows=len(rows), classes=classes)


@component(packages=["scikit-learn"])
def split(
    data: Input[Dataset],
    train_data: Output[Dataset],
    test_data: Output[Dataset],
    test_size: float = 0.25,
    seed: int = 0,
) -> int:
    """Stratified train/test split; returns the number of training rows."""
    from sklearn.model_selection import train_test_split

    header, rows = _read_csv(data.path)
    labels = [int(r[-1]) for r in rows]
    train_rows, test_rows = train_test_split(
        rows, test_size=test_size, random_state=seed, stratify=labels
    )
    _write_csv(train_data.path, header, train_rows)
    _write_csv(test_data.path, header, test_rows)
    train_data.metadata["rows"] = len(train_rows)
    test_data.metadata["rows"] = len(test_rows)
    return len(train_rows)
