"""Moving artifacts between the store and a step's local work directory.

Inputs are downloaded to ``<work>/inputs/<name>/`` (a ``Collected`` list of
artifacts: each to ``<work>/inputs/<name>/<i>/``); outputs are written by
user code at ``<work>/outputs/<name>/<name>`` (a file, or a directory made
there) and uploaded to ``runs/<run>/<step>/<output>`` with their sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from runner.errors import StepError
from runner.events.models import ArtifactRef
from runner.spec.models import ArtifactKind, ComponentSpec, IOKind
from runner.store.base import ArtifactStore
from runner.store.keys import run_output_key


def output_path(work: Path, name: str) -> Path:
    return work / "outputs" / name / name


async def download_inputs(
    store: ArtifactStore, work: Path, artifacts: dict[str, ArtifactRef | list[ArtifactRef]]
) -> dict[str, Path | list[Path]]:
    """Fetch each input artifact; returns local paths by input name (a list for a list)."""
    paths: dict[str, Path | list[Path]] = {}
    for name, ref in artifacts.items():
        if isinstance(ref, list):
            base = work / "inputs" / name
            paths[name] = [await _download(store, ref, base / str(i)) for i, ref in enumerate(ref)]
        else:
            paths[name] = await _download(store, ref, work / "inputs" / name)
    return paths


async def _download(store: ArtifactStore, ref: ArtifactRef, folder: Path) -> Path:
    from runner.store import get_dir

    dest = folder / (ref.uri.rstrip("/").rsplit("/", 1)[-1] or folder.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    key = store.key_for(ref.uri)
    if ref.layout == "dir":
        await get_dir(store, key, dest)
    else:
        await store.get_file(key, dest)
    return dest


def _dir_digest(root: Path) -> tuple[str, int]:
    """Digest of a directory: sha256 over its sorted (path, file sha256) list."""
    listing = []
    total = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        total += path.stat().st_size
        listing.append([path.relative_to(root).as_posix(), digest.hexdigest()])
    blob = json.dumps(listing, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest(), total


async def upload_outputs(
    store: ArtifactStore,
    work: Path,
    *,
    run_id: str,
    step: str,
    component: ComponentSpec,
    metadata: dict[str, dict[str, Any]],
) -> dict[str, ArtifactRef]:
    """Upload every declared output artifact; a missing one is the user's error."""
    from runner.store import put_dir

    refs: dict[str, ArtifactRef] = {}
    for decl in component.outputs:
        if decl.kind is not IOKind.ARTIFACT:
            continue
        path = output_path(work, decl.name)
        meta = metadata.get(decl.name, {})
        if not path.exists():
            if decl.artifact_kind is not ArtifactKind.METRICS:
                raise StepError(
                    f"component '{component.name}' did not write its output artifact "
                    f"'{decl.name}': write a file (or make a directory) at {decl.name}.path"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(meta, sort_keys=True, indent=1))
        key = run_output_key(run_id, step, decl.name)
        kind = (decl.artifact_kind or ArtifactKind.ARTIFACT).value
        if path.is_dir():
            digest, size = _dir_digest(path)
            await put_dir(store, key, path)
            refs[decl.name] = ArtifactRef(
                uri=store.uri_for(key), digest=f"sha256:{digest}", size=size,
                kind=kind, metadata=meta, layout="dir",
            )  # fmt: skip
        else:
            info = await store.put_file(key, path)
            refs[decl.name] = ArtifactRef(
                uri=store.uri_for(key), digest=f"sha256:{info.sha256}", size=info.size,
                kind=kind, metadata=meta,
            )  # fmt: skip
    return refs
