"""Artifact classes, Metrics.log_metric and the Input/Output markers."""

from __future__ import annotations

import math
import typing

import pytest

from runner import Artifact, Dataset, Input, Metrics, Model, Output
from runner.dsl.artifacts import ARTIFACT_CLASSES, IOMarker
from runner.errors import ValidationError
from runner.spec import ArtifactKind


def test_constructor_and_attributes() -> None:
    a = Dataset(name="data", uri="s3://b/k", path="/tmp/x", metadata={"rows": 3})
    assert (a.name, a.uri, a.path, a.metadata) == ("data", "s3://b/k", "/tmp/x", {"rows": 3})
    empty = Artifact()
    assert (empty.name, empty.uri, empty.path, empty.metadata) == ("", "", "", {})
    assert Artifact().metadata is not Artifact().metadata


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (Artifact, ArtifactKind.ARTIFACT),
        (Dataset, ArtifactKind.DATASET),
        (Model, ArtifactKind.MODEL),
        (Metrics, ArtifactKind.METRICS),
    ],
)
def test_kind_class_attribute(cls: type[Artifact], kind: ArtifactKind) -> None:
    assert cls.kind is kind
    assert ARTIFACT_CLASSES[kind] is cls
    assert issubclass(cls, Artifact)


def test_equality_is_by_value_and_class() -> None:
    assert Dataset(path="p") == Dataset(path="p")
    assert Dataset(path="p") != Model(path="p")
    assert "Dataset(name=''" in repr(Dataset())


def test_log_metric_stores_in_metadata() -> None:
    m = Metrics()
    m.log_metric("accuracy", 0.93)
    m.log_metric("epochs", 3)
    assert m.metadata == {"accuracy": 0.93, "epochs": 3}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0.9", None, True, [1]])
def test_log_metric_rejects_non_finite_or_non_numeric(value: object) -> None:
    with pytest.raises(ValidationError, match="metric 'acc'"):
        Metrics().log_metric("acc", value)  # type: ignore[arg-type]


def test_log_metric_rejects_empty_name() -> None:
    with pytest.raises(ValidationError, match="metric name"):
        Metrics().log_metric("", 1.0)


def test_input_output_are_annotated_markers() -> None:
    hint = Input[Dataset]
    assert typing.get_origin(hint) is typing.Annotated
    base, marker = typing.get_args(hint)
    assert base is Dataset
    assert isinstance(marker, IOMarker)
    assert marker.direction == "input"
    assert typing.get_args(Output[Model])[1].direction == "output"
