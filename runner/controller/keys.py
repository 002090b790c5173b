"""Where the controller's report key comes from (see :mod:`runner.events.auth`).

``RUNNER_CONTROLLER_REPORT_KEY`` (a Secret, in-cluster) or, on one machine,
a random key created once in ``<home>/report.key`` with mode 0600 and shared
by every controller of that home. A controller in a cluster must be given the
key: its home is the pod's scratch space, and replicas (or the pod after a
restart) would otherwise each make their own and reject each other's
attempts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from runner.config import Settings
from runner.errors import ConfigError
from runner.events.auth import ReportKeys

__all__ = ["KEY_FILE", "MIN_KEY_CHARS", "report_keys"]

KEY_FILE = "report.key"
MIN_KEY_CHARS = 32
PLACEHOLDER_PREFIX = "change-me"
_FIX = (
    "create it once and give it to every controller replica, e.g. `kubectl create secret "
    "generic runner-report-key --from-literal=RUNNER_CONTROLLER_REPORT_KEY=$(openssl rand "
    "-hex 32)` (k8s/controller.yaml reads that Secret)"
)


def report_keys(settings: Settings, *, in_cluster: bool = False) -> ReportKeys:
    """The report key of this controller; raises ConfigError when it is unusable."""
    configured = settings.controller.report_key
    if configured is not None:
        value = configured.get_secret_value().strip()
        if value.startswith(PLACEHOLDER_PREFIX):
            raise ConfigError(
                "RUNNER_CONTROLLER_REPORT_KEY is still the placeholder of k8s/secret.yaml: "
                f"anyone who read that file could forge step reports; {_FIX}"
            )
        if len(value) < MIN_KEY_CHARS:
            raise ConfigError(
                f"RUNNER_CONTROLLER_REPORT_KEY is {len(value)} characters; it needs at least "
                f"{MIN_KEY_CHARS} random ones: {_FIX}"
            )
        return ReportKeys(value.encode())
    if in_cluster:
        raise ConfigError(
            "a controller in a cluster needs RUNNER_CONTROLLER_REPORT_KEY (the secret that "
            f"step reports are verified with): {_FIX}"
        )
    return ReportKeys(_home_key(settings.home.resolve() / KEY_FILE))


def _home_key(path: Path) -> bytes:
    """Read the home's key, creating it (0600, atomically) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be between its create and its write
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the report key {path}: {exc.strerror or exc}; fix its "
                "permissions, or delete it (running attempts then report in vain)"
            ) from None
        if len(value) >= MIN_KEY_CHARS:
            return value.encode()
        time.sleep(0.01)
    raise ConfigError(
        f"the report key {path} is too short or empty: delete it and start again "
        "(a new one is made)"
    )
