"""The demo pipeline: ``make run`` runs it on the embedded default.

ingest → validate → split → preprocess → train (asks for a GPU) → evaluate
→ register (only when the accuracy reaches ``min_accuracy``), on a dataset
bundled with scikit-learn, artifacts passed by reference.
"""

from __future__ import annotations

from functions.data import ingest, split, validate
from functions.registry import register
from functions.training import evaluate, preprocess, train
from runner import If, pipeline


@pipeline(name="demo")
def demo(
    dataset: str = "wine",
    test_size: float = 0.25,
    learning_rate: float = 0.01,
    min_accuracy: float = 0.9,
) -> None:
    raw = ingest(dataset=dataset)
    checked = validate(data=raw.outputs["data"])
    parts = split(data=raw.outputs["data"], test_size=test_size).after(checked)
    scaled = preprocess(
        train_data=parts.outputs["train_data"], test_data=parts.outputs["test_data"]
    )
    model = train(data=scaled.outputs["train_scaled"], learning_rate=learning_rate)
    model.set_resources(cpu="1", memory="1Gi", gpu=1).set_retry(max_attempts=2, backoff="1s")
    scores = evaluate(data=scaled.outputs["test_scaled"], model=model.outputs["model"])
    with If(scores.output >= min_accuracy):
        register(model=model.outputs["model"], accuracy=scores.output, dataset=dataset, name="demo")
