"""Kubernetes quantities and durations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from runner.dsl.quantities import (
    accelerator_label,
    cpu_quantity,
    gpu_count,
    memory_quantity,
    parse_duration,
    parse_quantity,
)
from runner.errors import ValidationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", "500m"),
        ("2", "2"),
        (0.5, "0.5"),
        (2, "2"),
        (2.0, "2"),
        ("1.5", "1.5"),
        ("1e3", "1e3"),
    ],
)
def test_cpu(value: str | float, expected: str) -> None:
    assert cpu_quantity(value) == expected


@pytest.mark.parametrize("value", ["4Gi", "512M", "1e3", "128974848", "129e6", "123Mi", "1.5Gi"])
def test_memory_accepts_kubernetes_quantities(value: str) -> None:
    assert memory_quantity(value) == value


@pytest.mark.parametrize("value", ["4 gigs", "4GB", "-1Gi", "Gi", "", "1.2.3", "4gi", True, [4]])
def test_memory_rejects_non_quantities(value: object) -> None:
    with pytest.raises(ValidationError, match="memory"):
        memory_quantity(value)  # type: ignore[arg-type]


def test_memory_refuses_milli_bytes_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="512Mi"):
        memory_quantity("512m")


@pytest.mark.parametrize("value", ["two", "-1", -0.5, "1 core", float("nan")])
def test_cpu_rejects(value: object) -> None:
    with pytest.raises(ValidationError, match="cpu"):
        cpu_quantity(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "value"),
    [("4Gi", Decimal(4 * 2**30)), ("500m", Decimal("0.5")), ("1e3", Decimal(1000)), ("2k", 2000)],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_gpu_and_accelerator() -> None:
    assert gpu_count(0) == 0
    assert gpu_count(2) == 2
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValidationError, match="gpu"):
            gpu_count(bad)
    assert accelerator_label("nvidia-h100") == "nvidia-h100"
    for bad_label in ("nvidia h100", "-x", "a/b", "x" * 64, ""):
        with pytest.raises(ValidationError, match="accelerator"):
            accelerator_label(bad_label)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10s", 10.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("2d", 172800.0),
        ("1.5h", 5400.0),
        ("30", 30.0),
        (30, 30.0),
        (0.25, 0.25),
    ],
)
def test_durations(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["1h 30m", "-5s", "5 minutes", "s", "", True, -1, None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValidationError, match="backoff"):
        parse_duration(value, "backoff")
