"""Registering a model: a model card that names, versions and describes it.

The card is a JSON artifact (name, version, metrics, data, where the model
lives) — what a model registry would ingest. The version is the model's
content hash, so registering the same model twice gives the same version.
"""

from __future__ import annotations

from runner import Artifact, Input, Model, Output, component


@component
def register(
    model: Input[Model],
    accuracy: float,
    dataset: str,
    card: Output[Artifact],
    name: str = "classifier",
) -> str:
    """Write the model card of ``model``; returns ``name:version``."""
    import hashlib
    import json

    with open(model.path, "rb") as fh:
        version = hashlib.sha256(fh.read()).hexdigest()[:12]
    document = {
        "name": name,
        "version": version,
        "model_uri": model.uri,
        "framework": model.metadata.get("framework"),
        "class": model.metadata.get("class"),
        "dataset": dataset,
        "metrics": {"accuracy": accuracy},
    }
    with open(card.path, "w") as fh:
        json.dump(document, fh, indent=2, sort_keys=True)
    card.metadata.update({"name": name, "version": version, "accuracy": accuracy})
    return f"{name}:{version}"
