"""GPU slots for the local executor.

GPUs are detected once (``RUNNER_LOCAL_GPUS`` or ``nvidia-smi``) and handed
out as whole devices through ``CUDA_VISIBLE_DEVICES``; a step waits until
enough devices are free. With no GPU at all a GPU request runs on the CPU
with a visible warning, or is refused in strict mode.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


def detect_gpus(configured: str | None = None) -> list[str]:
    """GPU ids: from ``configured`` ("0,1"; "" = none) or from ``nvidia-smi -L``."""
    if configured is not None:
        return [g.strip() for g in configured.split(",") if g.strip()]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


class GpuPool:
    """Whole-device allocation with waiting, FIFO-fair enough for a laptop."""

    def __init__(self, devices: list[str]) -> None:
        self.devices = list(devices)
        self._free = list(devices)
        self._cond = asyncio.Condition()

    @property
    def total(self) -> int:
        return len(self.devices)

    @asynccontextmanager
    async def acquire(self, count: int) -> AsyncIterator[list[str]]:
        """Hold ``count`` devices; ``count`` must not exceed :attr:`total`."""
        if count <= 0:
            yield []
            return
        async with self._cond:
            await self._cond.wait_for(lambda: len(self._free) >= count)
            taken, self._free = self._free[:count], self._free[count:]
        try:
            yield taken
        finally:
            async with self._cond:
                self._free.extend(taken)
                self._cond.notify_all()
