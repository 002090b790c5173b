"""Training components: scale features, fit a model, evaluate it."""

from __future__ import annotations

import json

from functions.data import _read_csv, _write_csv
from runner import Dataset, Input, Metrics, Model, Output, component


@component(packages=["scikit-learn"])
def preprocess(
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    train_scaled: Output[Dataset],
    test_scaled: Output[Dataset],
) -> None:
    """Standardise features with statistics of the training split only."""
    from sklearn.preprocessing import StandardScaler

    header, train_rows = _read_csv(train_data.path)
    _, test_rows = _read_csv(test_data.path)
    scaler = StandardScaler().fit([r[:-1] for r in train_rows])
    for source, target in ((train_rows, train_scaled), (test_rows, test_scaled)):
        features = scaler.transform([r[:-1] for r in source])
        out = [[*map(float, f), r[-1]] for f, r in zip(features, source, strict=True)]
        _write_csv(target.path, header, out)
        target.metadata["rows"] = len(out)


@component(packages=["scikit-learn"])
def train(
    data: Input[Dataset],
    model: Output[Model],
    learning_rate: float = 0.1,
    epochs: int = 200,
    seed: int = 0,
) -> float:
    """Fit a small MLP classifier; uses a GPU when one is visible (CPU otherwise)."""
    import os
    import pickle

    from sklearn.neural_network import MLPClassifier

    _, rows = _read_csv(data.path)
    X = [r[:-1] for r in rows]
    y = [int(r[-1]) for r in rows]
    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        learning_rate_init=learning_rate,
        max_iter=epochs,
        random_state=seed,
    )
    clf.fit(X, y)
    with open(model.path, "wb") as fh:
        pickle.dump(clf, fh)
    device = os.environ.get("CUDA_VISIBLE_DEVICES") or "cpu"
    model.metadata.update({"framework": "scikit-learn", "class": "MLPClassifier", "device": device})
    return float(clf.score(X, y))


@component(packages=["scikit-learn"])
def evaluate(data: Input[Dataset], model: Input[Model], metrics: Output[Metrics]) -> float:
    """Accuracy, macro F1 and the confusion matrix on the held-out split."""
    import pickle

    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    _, rows = _read_csv(data.path)
    X = [r[:-1] for r in rows]
    y = [int(r[-1]) for r in rows]
    with open(model.path, "rb") as fh:
        clf = pickle.load(fh)  # our own artifact, produced by `train`
    predicted = clf.predict(X)
    accuracy = float(accuracy_score(y, predicted))
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("f1_macro", float(f1_score(y, predicted, average="macro")))
    metrics.metadata["confusion_matrix"] = json.dumps(confusion_matrix(y, predicted).tolist())
    return accuracy
