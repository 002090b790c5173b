"""Requirement sets and what identifies an environment built for one.

A set is sorted and normalised (names per PEP 503, specifiers kept), so
``["Scikit_Learn>=1.3", "numpy"]`` and ``["numpy", "scikit-learn>=1.3"]`` are
one environment. Its digest also covers the interpreter (version,
implementation, executable) and the index settings: the same names resolved
against another index are another environment.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

from runner.config import EnvironmentSettings

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$", re.DOTALL)
_SEPARATORS = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: lowercase, runs of ``-_.`` become one ``-``."""
    return _SEPARATORS.sub("-", name).lower()


def normalise_requirement(requirement: str) -> str:
    """``requirement`` with its project name canonical and its specifier kept
    (whitespace dropped outside markers): ``"Scikit_Learn >= 1.3"`` ->
    ``"scikit-learn>=1.3"``."""
    match = _NAME.match(requirement)
    if match is None:  # a URL or path requirement: kept as written
        return requirement.strip()
    name, rest = match.groups()
    rest = rest.strip()
    head, sep, marker = rest.partition(";")
    head = re.sub(r"\s+", "", head)
    return canonical_name(name) + head + (f"; {marker.strip()}" if sep else "")


def requirement_set(packages: Iterable[str]) -> list[str]:
    """The sorted, de-duplicated, normalised requirements of ``packages``."""
    return sorted({normalise_requirement(p) for p in packages if p.strip()})


def interpreter() -> dict[str, str]:
    """What identifies the runner interpreter an environment is layered on."""
    return {
        "version": platform.python_version(),
        "implementation": sys.implementation.name,
        "executable": sys.executable,
    }


def index_settings(settings: EnvironmentSettings) -> dict[str, Any]:
    """The settings that change what a requirement resolves to."""
    return {
        "index_url": settings.index_url,
        "extra_index_urls": list(settings.extra_index_urls),
        "find_links": list(settings.find_links),
        "offline": settings.offline,
    }


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def environment_digest(
    requirements: Sequence[str],
    settings: EnvironmentSettings,
    python: dict[str, str] | None = None,
) -> str:
    """Hex sha256 of the canonical JSON of interpreter, requirements and index settings."""
    material = {
        "python": python if python is not None else interpreter(),
        "requirements": list(requirements),
        "index": index_settings(settings),
    }
    return sha256_hex(canonical_json(material))


def own_distributions() -> dict[str, str]:
    """Canonical name -> version of every distribution in runner's own environment."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata is not None else None
        if name and dist.version:
            found.setdefault(canonical_name(name), dist.version)
    return found


def provided_pin(requirement: str) -> str | None:
    """``name==version`` when this interpreter already has a distribution that
    satisfies ``requirement`` (no extras, URL or marker: those are installed),
    else None. Needs ``packaging``; without it nothing counts as provided."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging ships with nearly every environment
        return None
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return None
    if parsed.extras or parsed.url or parsed.marker is not None:
        return None
    try:
        installed = metadata.version(parsed.name)
    except metadata.PackageNotFoundError:
        return None
    if not parsed.specifier.contains(installed, prereleases=True):
        return None
    return f"{canonical_name(parsed.name)}=={installed}"


def constraints_text(distributions: dict[str, str]) -> str:
    """A constraints file pinning (``==``) each of ``distributions``."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(distributions.items()))


def freeze_digest(freeze: str) -> str:
    """Hex sha256 of a freeze (or lock) listing, lines sorted and stripped."""
    lines = sorted(
        line.strip() for line in freeze.splitlines() if line.strip() and not line.startswith("#")
    )
    return sha256_hex("\n".join(lines).encode())
