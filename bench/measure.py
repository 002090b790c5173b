"""Measurement helpers: medians, peak memory, and the result record of one workload."""

from __future__ import annotations

import resource
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory of this process, and of its largest reaped child (MiB).

    ``ru_maxrss`` is a high-water mark in KiB on Linux; the children figure is
    the largest single child that has been waited for, not a sum.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024, children / 1024


def vm_hwm_mib(pid: int | None) -> float | None:
    """Peak resident memory of a live process from ``/proc`` (Linux), in MiB."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Result:
    """One workload on one system: the samples and what else was observed.

    ``samples`` are seconds per repetition; ``error`` says why there are none
    (or fewer than asked). ``extra`` holds workload-specific figures.
    """

    workload: str
    system: str
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    rss_self_mib: float | None = None
    rss_children_mib: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return median(self.samples)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = self.median
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def record_memory(self) -> None:
        self.rss_self_mib, self.rss_children_mib = peak_rss_mib()
