"""The Kubernetes versions manifests are validated against: every minor from
1.31 to 1.37 that the installed kubernetes-validate has schemas for."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from kubernetes_validate.utils import all_versions, major_minor

WANTED = [f"1.{minor}" for minor in range(31, 38)]
AVAILABLE = sorted({major_minor(v) for v in all_versions()}, key=lambda v: int(v.split(".")[1]))
VERSIONS = [v for v in WANTED if v in AVAILABLE]
MISSING = [v for v in WANTED if v not in AVAILABLE]


def validate_all(obj: dict[str, Any]) -> None:
    """Strict validation for every version; the error names the object and version."""
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            path = "/".join(str(p) for p in exc.path)
            raise AssertionError(
                f"{name} is invalid for {version} at {path}: {exc.message}"
            ) from None
