"""kfp's own virtual environment, ``bench/.venv-kfp`` (git-ignored).

kfp pins protobuf and other packages that may conflict with runner's
dependencies, so it never goes into the project's venv: the bench creates a
separate venv, ``pip install kfp`` there (once; later runs reuse it) and
runs :mod:`bench.kfp_script` with that interpreter. Any failure is returned
as a reason, and the bench reports kfp as ``n/a (reason)``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-kfp"
KFP_REQUIREMENT = "kfp>=2.10,<3"
INSTALL_TIMEOUT = 900.0


@dataclass(frozen=True)
class KfpEnv:
    python: Path | None
    version: str | None
    reason: str | None
    """Why kfp is not available (``python`` is then None)."""


def _version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import kfp, kfp.local; print(kfp.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def ensure_kfp(venv: Path = VENV, install: bool = True) -> KfpEnv:
    """The kfp interpreter, installing kfp into ``venv`` first if needed."""
    python = venv / "bin" / "python"
    if python.exists() and (version := _version(python)):
        return KfpEnv(python, version, None)
    if not install:
        return KfpEnv(None, None, f"kfp is not installed in {venv} (installation disabled)")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            KFP_REQUIREMENT,
        ],
    ]
    for command in steps:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return KfpEnv(None, None, f"{' '.join(command[:3])}: {exc}")
        if done.returncode != 0:
            why = _tail(done.stderr or done.stdout) or f"exit code {done.returncode}"
            return KfpEnv(None, None, f"could not install {KFP_REQUIREMENT}: {why}")
    version = _version(python)
    if version is None:
        return KfpEnv(None, None, "kfp installed but `import kfp.local` fails")
    return KfpEnv(python, version, None)
