"""W1-W3 on kfp.local, run by ``bench/.venv-kfp/bin/python bench/kfp_script.py``.

Standalone on purpose: it runs in kfp's own virtual environment (kfp pins
protobuf and friends), so it imports nothing from runner or bench. It loads
the generated ``bench_kfp_pipelines.py``, initialises
``kfp.local.SubprocessRunner(use_venv=False)`` (steps run with this
interpreter; ``install_kfp_package=False`` on the components, so nothing is
installed at run time), times each pipeline call and prints one JSON line.

W1/W2 run with ``enable_caching=False`` (kfp.local's default). W3 runs with
``enable_caching=True`` against a fresh ``cache_root``: one run fills it, the
timed runs must then be answered from it (counted from kfp's "cache hit" log
records).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import resource
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

WORKLOADS: dict[str, tuple[str, bool, int]] = {
    "w1": ("chain", False, 10),
    "w2": ("fanin", False, 1275),
    "w3": ("chain", True, 10),
}
"""workload -> (pipeline function, enable_caching, expected output)."""


class _CacheHits(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.hits = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "cache hit" in record.getMessage():
            self.hits += 1


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the steps)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _load(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def run(
    workload: str, pipeline_file: Path, workdir: Path, reps: int, warmup: bool
) -> dict[str, Any]:
    import kfp  # type: ignore[import-not-found,unused-ignore]  # only in bench/.venv-kfp
    from kfp import local  # type: ignore[import-not-found,unused-ignore]

    func_name, caching, expected = WORKLOADS[workload]
    module = _load(pipeline_file)
    pipeline = getattr(module, func_name)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(workdir / "root"),
        enable_caching=caching,
        cache_root=str(workdir / "cache"),
    )
    hits = _CacheHits()
    logging.getLogger().addHandler(hits)
    logging.getLogger().setLevel(logging.INFO)
    if warmup or caching:
        pipeline()
    hits.hits = 0
    samples: list[float] = []
    cpu = _cpu_seconds()
    own = _own_cpu_seconds()
    for _ in range(reps):
        started = time.perf_counter()
        task = pipeline()
        samples.append(time.perf_counter() - started)
        if task.output != expected:
            raise RuntimeError(f"{func_name} returned {task.output!r}, not {expected}")
    cpu = _cpu_seconds() - cpu
    own = _own_cpu_seconds() - own
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    extra: dict[str, Any] = {
        "kfp_version": kfp.__version__,
        "caching": caching,
        "cpu_seconds_per_run": cpu / reps,
        "cpu_split_per_run": {"orchestrator": own / reps, "steps": (cpu - own) / reps},
    }
    if caching:
        extra["cache_hits"] = hits.hits
        if hits.hits < reps * 10:
            raise RuntimeError(f"expected {reps * 10} cache hits, kfp reported {hits.hits}")
    return {
        "workload": workload,
        "system": "kfp",
        "samples": samples,
        "rss_self_mib": peak,
        "extra": extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--pipeline-file", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", action="store_true")
    args = parser.parse_args()
    result = run(args.workload, args.pipeline_file, args.workdir, args.reps, args.warmup)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
