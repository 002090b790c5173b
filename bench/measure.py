"""Measurement helpers: medians, peak memory, and the result record of one workload."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def peak_rss_mib() -> float:
    """Peak resident memory of this process (``ru_maxrss`` is in KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def own_cpu_seconds() -> float:
    """CPU time (user + system) of this process alone.

    Unlike wall time it hardly changes when other work shares the machine,
    so it is the steadier figure on a busy box.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def children_cpu_seconds() -> float:
    """CPU time of the children this process has reaped (with their own reaped children)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def process_cpu_seconds(pid: int | None) -> float:
    """CPU time so far of a live process (say, a server not reaped yet), from ``/proc``."""
    if pid is None:
        return 0.0
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
        fields = raw[raw.rfind(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


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


_PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _processes(value: Callable[[list[bytes]], int]) -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, ``value`` of the fields of ``/proc/<pid>/stat`` after the name)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue  # it ended while we looked
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = raw[raw.rfind(b")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), value(fields))
    return table


def _tree_sum(table: dict[int, tuple[int, int]], roots: list[int]) -> int:
    """The values of ``roots`` and of everything below them in ``table``."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, list(roots)
    while stack:
        pid = stack.pop()
        total += table.get(pid, (0, 0))[1]
        stack.extend(children.get(pid, ()))
    return total


def descendants_cpu_seconds() -> float:
    """CPU time of every process below this one, live or ended, from ``/proc``.

    A live descendant counts with what its own ended children spent
    (``cutime``/``cstime``), and the children this process has reaped count
    through ``RUSAGE_CHILDREN``. So a step forked by a warm worker is counted
    whether the worker has reaped it yet or not, which ``RUSAGE_CHILDREN``
    alone (only children reaped by this process) would miss.
    """
    table = _processes(lambda fields: sum(int(f) for f in fields[11:15]))
    below = [pid for pid, (ppid, _) in table.items() if ppid == os.getpid()]
    return _tree_sum(table, below) / os.sysconf("SC_CLK_TCK") + children_cpu_seconds()


def tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and all its descendants together, now (MiB)."""
    return _tree_sum(_processes(lambda fields: int(fields[21])), [root]) * _PAGE_MIB


class TreeSampler:
    """Polls the summed RSS of a process tree from a thread; keeps the peak.

    Why sample: ``RUSAGE_CHILDREN`` reports the largest single child, and on
    Linux a child's figure includes its parent's memory at fork time, so it
    says nothing about the steps. A sample every ``interval`` seconds can miss
    a spike shorter than that; the figure is a lower bound of the true peak.
    """

    def __init__(self, root: int, interval: float = 0.025) -> None:
        self.root = root
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            # /proc unavailable or a half-read entry: skip this sample.
            with contextlib.suppress(OSError, ValueError, IndexError):
                self.peak_mib = max(self.peak_mib, tree_rss_mib(self.root))
            self._stop.wait(self.interval)


@dataclass
class Result:
    """One workload on one system: the samples and what else was observed.

    ``samples`` are seconds per repetition; ``error`` says why there are none
    (or fewer than asked). ``rss_self_mib``: peak of the measured process (the
    one hosting the controller, or kfp's orchestrator); ``rss_tree_mib``: the
    sampled peak of it with all its child processes (steps, nats-server)
    together. ``extra`` holds workload-specific figures.
    """

    workload: str
    system: str
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    rss_self_mib: float | None = None
    rss_tree_mib: float | None = None
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
        self.rss_self_mib = peak_rss_mib()
