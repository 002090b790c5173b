"""Artifacts: datasets, models and metrics passed by reference; GPU and node settings."""

import json

from runner import Artifact, Dataset, Input, Metrics, Model, Output, component, pipeline

FEATURES = ["a", "b", "c"]


def _write_json(path, value):
    with open(path, "w") as fh:
        json.dump(value, fh)


@component(image="python:3.11-slim", cache_version="2024-06")
def make_dataset(rows: int, train: Output[Dataset], test: Output[Dataset]) -> None:
    _write_json(train.path, [[i] * len(FEATURES) for i in range(rows)])
    _write_json(test.path, [[i] * len(FEATURES) for i in range(rows // 4)])


@component(packages=["scikit-learn>=1.3", "numpy"])
def fit(data: Input[Dataset], model: Output[Model], epochs: int = 5) -> float:
    _write_json(model.path, {"epochs": epochs})
    model.metadata["framework"] = "sklearn"
    return 0.5


@component
def evaluate(
    model: Input[Model],
    data: Input[Dataset],
    metrics: Output[Metrics],
    baseline: Input[Artifact] = None,
) -> None:
    metrics.log_metric("accuracy", 0.9)


@pipeline(name="artifacts")
def artifacts(rows: int = 100, epochs: int = 5) -> None:
    data = make_dataset(rows=rows)
    model = fit(data=data.outputs["train"], epochs=epochs)
    model.set_resources(cpu="4", memory="16Gi", gpu=1, accelerator="nvidia-a100")
    model.set_kubernetes(
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    evaluate(model=model.outputs["model"], data=data.outputs["test"]).set_image("python:3.12-slim")
