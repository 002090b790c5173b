"""``python -m runner.executors.kubernetes_pod``: a step pod's entry point when its
component has ``packages``.

It installs the lock the controller resolved (``RUNNER_PACKAGES_LOCK``) with
uv, or nothing when the image already has every pinned version, then
``os.execv``'s ``python -m runner.step`` with the environment's interpreter:
the step process itself is the same as without packages. When the packages
cannot be installed it prints the installer's output (the pod log), reports
``step.failed`` with reason ``EnvironmentFailed`` itself, before any user
code ran, and exits 1.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from runner.config import EnvironmentSettings
from runner.envs.locks import LOCK_ENV, decode_lock
from runner.envs.manager import EnvironmentFailedError
from runner.envs.pod import pod_environment
from runner.events.models import ErrorInfo
from runner.privacy import restrict_umask
from runner.step.request import REQUEST_ENV, StepRequest

ENVIRONMENT_FAILED = "EnvironmentFailed"


async def _report(request: StepRequest, error: EnvironmentFailedError, seconds: float) -> None:
    from runner.step.report import Reporter

    reporter = await Reporter.connect(request)
    try:
        info = ErrorInfo(
            reason=ENVIRONMENT_FAILED,
            message=error.describe(request.component.name),
            step=request.step,
        )
        await reporter.failed(info, seconds)
    finally:
        await reporter.close()


def main() -> int:
    restrict_umask()
    request = StepRequest.from_env_value(os.environ[REQUEST_ENV])
    encoded = os.environ.pop(LOCK_ENV, None)
    lock = decode_lock(encoded) if encoded else None
    work = Path(os.environ.get("RUNNER_WORK_DIR") or tempfile.gettempdir())
    started = time.monotonic()
    try:
        python = asyncio.run(
            pod_environment(request.component.packages, lock, work, EnvironmentSettings())
        )
    except EnvironmentFailedError as exc:
        print(exc.log, flush=True)
        print(exc.describe(request.component.name), file=sys.stderr, flush=True)
        asyncio.run(_report(request, exc, time.monotonic() - started))
        return 1
    if python is None:
        print(f"packages {request.component.packages}: satisfied by the image", flush=True)
    else:
        took = time.monotonic() - started
        print(f"packages {request.component.packages}: installed in {took:.1f}s", flush=True)
    executable = python or sys.executable
    os.execv(executable, [executable, "-m", "runner.step"])
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
