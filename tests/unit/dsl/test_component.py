"""@component: the spec built at decoration, and running a component directly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

import pytest

from runner import Artifact, ComponentDefinition, Dataset, Input, Metrics, Model, Output, component
from runner.dsl.invoke import call_component
from runner.errors import StepError, ValidationError
from runner.spec import ArtifactKind, InputDecl, IOKind, OutputDecl, ParameterType


class Split(NamedTuple):
    train_rows: int
    test_rows: int


class Scores(TypedDict):
    accuracy: float
    label: str


@component(packages=["scikit-learn>=1.3"], image="python:3.11-slim", cache_version="2")
def prepare_data(rows: int, data: Output[Dataset], ratio: float = 1, tags: list[str] = ()) -> int:  # type: ignore[assignment]
    with open(data.path, "w") as fh:
        fh.write("x\n" * rows)
    data.metadata["rows"] = rows
    return rows


@component
def train(data: Input[Dataset], lr: float, model: Output[Model], metrics: Output[Metrics]) -> float:
    with open(data.path) as src, open(model.path, "w") as dst:
        dst.write(f"{lr}:{len(src.read())}")
    metrics.log_metric("accuracy", 0.93)
    return 0.93


@component(name="splitter")
def split(n: int) -> Split:
    return Split(n - n // 4, n // 4)


@component
def score(weights: dict[str, Any] | None = None) -> Scores:
    return {"accuracy": 1, "label": "ok"}


@component
def side_effect(note: str, extra: Input[Artifact] = None) -> None:  # type: ignore[assignment]
    return None


def test_decorator_forms_return_a_definition() -> None:
    assert isinstance(train, ComponentDefinition)
    assert isinstance(prepare_data, ComponentDefinition)
    assert train.fn.__name__ == "train"
    assert train.__name__ == "train"
    assert train.__doc__ == train.fn.__doc__
    assert train.name == train.spec.name == "train"


def test_spec_of_a_component_with_options() -> None:
    spec = prepare_data.spec
    assert spec.name == "prepare-data"
    assert spec.kind == "python"
    assert spec.entrypoint == f"{__name__}:prepare_data"
    assert spec.image == "python:3.11-slim"
    assert spec.packages == ["scikit-learn>=1.3"]
    assert spec.cache_version == "2"
    assert spec.inputs == [
        InputDecl(name="rows", kind=IOKind.PARAMETER, parameter_type=ParameterType.INT),
        InputDecl(
            name="ratio",
            kind=IOKind.PARAMETER,
            parameter_type=ParameterType.FLOAT,
            optional=True,
            default=1.0,
        ),
        InputDecl(
            name="tags",
            kind=IOKind.PARAMETER,
            parameter_type=ParameterType.LIST,
            optional=True,
            default=[],
        ),
    ]
    assert spec.outputs == [
        OutputDecl(name="data", kind=IOKind.ARTIFACT, artifact_kind=ArtifactKind.DATASET),
        OutputDecl(name="output", kind=IOKind.PARAMETER, parameter_type=ParameterType.INT),
    ]
    assert spec.return_outputs == ["output"]
    assert len(spec.digest) == 64


def test_artifact_inputs_and_outputs() -> None:
    spec = train.spec
    assert [(i.name, i.kind, i.artifact_kind) for i in spec.inputs] == [
        ("data", IOKind.ARTIFACT, ArtifactKind.DATASET),
        ("lr", IOKind.PARAMETER, None),
    ]
    assert [(o.name, o.artifact_kind or o.parameter_type) for o in spec.outputs] == [
        ("model", ArtifactKind.MODEL),
        ("metrics", ArtifactKind.METRICS),
        ("output", ParameterType.FLOAT),
    ]
    assert spec.image is None
    assert spec.packages == []


def test_named_returns_give_one_output_per_field() -> None:
    assert split.name == "splitter"
    assert split.spec.return_outputs == ["train_rows", "test_rows"]
    assert [o.parameter_type for o in split.spec.outputs] == [ParameterType.INT] * 2
    assert score.spec.return_outputs == ["accuracy", "label"]
    assert score.spec.input("weights") == InputDecl(
        name="weights",
        kind=IOKind.PARAMETER,
        parameter_type=ParameterType.DICT,
        optional=True,
    )


def test_optional_artifact_written_as_union_with_none() -> None:
    @component
    def maybe(extra: Input[Dataset] | None = None) -> None:
        return None

    decl = maybe.spec.input("extra")
    assert decl is not None
    assert decl.optional
    assert decl.artifact_kind is ArtifactKind.DATASET
    assert maybe() is None


def test_none_return_and_optional_artifact() -> None:
    assert side_effect.spec.outputs == []
    assert side_effect.spec.return_outputs == []
    extra = side_effect.spec.input("extra")
    assert extra is not None
    assert extra.optional
    assert extra.artifact_kind is ArtifactKind.ARTIFACT


def test_direct_call_runs_the_function_with_temporary_outputs() -> None:
    assert prepare_data(rows=3) == 3
    assert prepare_data(5) == 5  # positional arguments work outside a pipeline


def test_direct_call_with_caller_artifacts(tmp_path: Path) -> None:
    data = Dataset(path=str(tmp_path / "data.csv"))
    assert prepare_data(rows=2, data=data) == 2
    assert Path(data.path).read_text() == "x\nx\n"
    assert data.metadata == {"rows": 2}
    assert data.name == "data"

    model, metrics = Model(), Metrics()
    assert train(data=data.path, lr=0.5, model=model, metrics=metrics) == 0.93
    assert Path(model.path).read_text() == "0.5:4"  # a path was created for it
    assert model.uri == Path(model.path).as_uri()
    assert metrics.metadata == {"accuracy": 0.93}
    assert train(data=data, lr=1, model=Model(path=str(tmp_path / "m"))) == 0.93


def test_direct_call_removes_the_outputs_it_created() -> None:
    seen: list[str] = []

    @component
    def write(out: Output[Dataset]) -> str:
        Path(out.path).write_text("x")
        seen.append(out.path)
        return out.uri

    uri = write()
    assert uri.startswith("file://")
    assert not os.path.exists(seen[0])


def test_direct_call_returns_the_raw_named_tuple() -> None:
    assert split(n=8) == Split(6, 2)


def test_direct_call_checks_arguments() -> None:
    with pytest.raises(ValidationError, match="missing parameter 'lr'"):
        train(data="/dev/null")
    with pytest.raises(ValidationError, match="'rows' has the wrong type: expected int, got str"):
        prepare_data(rows="3")
    with pytest.raises(ValidationError, match="expects Input\\[Dataset\\]"):
        train(data=Model(path="/dev/null"), lr=0.1)
    with pytest.raises(ValidationError, match="unexpected keyword argument 'nope'"):
        prepare_data(rows=1, nope=2)


def test_call_component_returns_outputs_by_name(tmp_path: Path) -> None:
    artifacts = {"data": Dataset(name="data", path=str(tmp_path / "d"))}
    assert call_component(prepare_data, {"rows": 2}, artifacts) == {"output": 2}
    assert call_component(split, {"n": 4}, {}) == {"train_rows": 3, "test_rows": 1}
    # TypedDict fields, and an int returned for a float output becomes a float.
    assert call_component(score, {}, {}) == {"accuracy": 1.0, "label": "ok"}
    assert call_component(side_effect, {"note": "x"}, {}) == {}


def test_call_component_applies_defaults_without_sharing_them(tmp_path: Path) -> None:
    @component
    def grow(items: list[int] = [1]) -> list[int]:  # noqa: B006
        items.append(2)
        return items

    assert call_component(grow, {}, {}) == {"output": [1, 2]}
    assert call_component(grow, {}, {}) == {"output": [1, 2]}


def test_call_component_validates_inputs() -> None:
    with pytest.raises(ValidationError, match="unknown argument"):
        call_component(split, {"n": 1, "m": 2}, {})
    with pytest.raises(ValidationError, match="missing parameter 'n'"):
        call_component(split, {}, {})
    with pytest.raises(ValidationError, match="expected int, got float"):
        call_component(split, {"n": 1.5}, {})
    with pytest.raises(ValidationError, match="missing Input\\[Dataset\\] 'data'"):
        call_component(train, {"lr": 0.1}, {})
    with pytest.raises(ValidationError, match="artifact object"):
        call_component(train, {"lr": 0.1}, {"data": "/x"})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (float("nan"), "not a finite number"),
        ({1, 2}, "expected float, got set"),
        ("3", "expected float, got str"),
    ],
)
def test_call_component_validates_return_values(returned: object, message: str) -> None:
    @component
    def bad() -> float:
        return returned  # type: ignore[return-value]

    with pytest.raises(StepError, match=message):
        call_component(bad, {}, {})


def test_returning_a_value_without_a_return_annotation_is_an_error() -> None:
    @component
    def forgot(x: int):  # type: ignore[no-untyped-def]
        return x

    assert forgot.spec.outputs == []
    with pytest.raises(StepError, match="declares no return type"):
        call_component(forgot, {"x": 1}, {})


def test_named_return_of_the_wrong_shape() -> None:
    @component
    def wrong(n: int) -> Split:
        return (n,)  # type: ignore[return-value]

    with pytest.raises(StepError, match="must return the fields train_rows, test_rows"):
        call_component(wrong, {"n": 1}, {})


def test_non_json_values_in_any_parameters() -> None:
    @component
    def anything(x: Any) -> Any:
        return x

    assert call_component(anything, {"x": {"a": [1, None]}}, {}) == {"output": {"a": [1, None]}}
    with pytest.raises(ValidationError, match="not a JSON value"):
        call_component(anything, {"x": object()}, {})


def test_entrypoint_is_importable() -> None:
    import importlib

    module, _, qualname = train.spec.entrypoint.partition(":")  # type: ignore[union-attr]
    assert getattr(importlib.import_module(module), qualname) is train
