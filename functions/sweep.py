"""A hyper-parameter sweep: one training per learning rate, the best one registered.

ingest → split → preprocess → lr_grid (the learning rates, as a list) →
ParallelFor over that list (two at a time): train → evaluate → select_best
(``Collected`` accuracies and models) → register, if the best is good enough::

    runner run functions/sweep.py -p dataset=iris -p points=4
"""

from __future__ import annotations

from typing import NamedTuple

from functions.data import ingest, split
from functions.registry import register
from functions.training import evaluate, preprocess, train
from runner import Collected, If, Input, Model, Output, ParallelFor, component, pipeline


@component
def lr_grid(low: float, high: float, points: int) -> list:
    """``points`` learning rates spaced evenly on a log scale from ``low`` to ``high``."""
    import math

    if points < 1 or not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high and points >= 1, got {low}, {high}, {points}")
    if points == 1:
        return [{"learning_rate": low}]
    step = (math.log10(high) - math.log10(low)) / (points - 1)
    return [{"learning_rate": round(10 ** (math.log10(low) + i * step), 6)} for i in range(points)]


class Best(NamedTuple):
    accuracy: float
    index: int


@component
def select_best(accuracies: list, models: Input[list[Model]], best: Output[Model]) -> Best:
    """Copy the most accurate model (the first of equals) to ``best``."""
    import shutil

    if not accuracies:
        raise ValueError("the sweep produced no model: is the grid empty?")
    index = max(range(len(accuracies)), key=lambda i: (accuracies[i], -i))
    shutil.copyfile(models[index].path, best.path)
    best.metadata.update({**models[index].metadata, "sweep_index": index})
    return Best(float(accuracies[index]), index)


@pipeline(name="sweep")
def sweep(
    dataset: str = "iris",
    low: float = 0.001,
    high: float = 0.1,
    points: int = 3,
    min_accuracy: float = 0.9,
) -> None:
    raw = ingest(dataset=dataset)
    parts = split(data=raw.outputs["data"])
    scaled = preprocess(
        train_data=parts.outputs["train_data"], test_data=parts.outputs["test_data"]
    )
    grid = lr_grid(low=low, high=high, points=points)
    with ParallelFor(grid.output, parallelism=2) as config:
        model = train(data=scaled.outputs["train_scaled"], learning_rate=config.learning_rate)
        score = evaluate(data=scaled.outputs["test_scaled"], model=model.outputs["model"])
    best = select_best(accuracies=Collected(score.output), models=Collected(model.outputs["model"]))
    with If(best.outputs["accuracy"] >= min_accuracy):
        register(
            model=best.outputs["best"],
            accuracy=best.outputs["accuracy"],
            dataset=dataset,
            name="sweep",
        )
