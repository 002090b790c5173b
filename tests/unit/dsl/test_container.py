"""@container_component: placeholders in the spec and the argv at run time."""

from __future__ import annotations

import pytest

from runner import ContainerSpec, Dataset, Input, Model, Output, container_component
from runner.dsl.invoke import resolve_container_command
from runner.errors import ComponentError, ValidationError
from runner.spec import ContainerCommand, IOKind, Placeholder


@container_component
def trainer(
    data: Input[Dataset],
    epochs: int,
    model: Output[Model],
    tags: list[str] = ["a"],  # noqa: B006
) -> ContainerSpec:
    return ContainerSpec(
        image="ghcr.io/acme/train:1.2",
        command=["python", "-m", "train"],
        args=[
            "--data",
            data.path,
            "--src",
            data.uri,
            "--epochs",
            epochs,
            "--out",
            model,
            "--tags",
            tags,
            3,
        ],
    )


def test_spec_of_a_container_component() -> None:
    spec = trainer.spec
    assert spec.kind == "container"
    assert spec.entrypoint is None
    assert spec.image == "ghcr.io/acme/train:1.2"
    assert spec.container == ContainerCommand(
        image="ghcr.io/acme/train:1.2",
        command=["python", "-m", "train"],
        args=[
            "--data",
            Placeholder(placeholder="input_path", name="data"),
            "--src",
            Placeholder(placeholder="input_uri", name="data"),
            "--epochs",
            Placeholder(placeholder="input_value", name="epochs"),
            "--out",
            Placeholder(placeholder="output_path", name="model"),
            "--tags",
            Placeholder(placeholder="input_value", name="tags"),
            "3",
        ],
    )
    assert [(i.name, i.kind) for i in spec.inputs] == [
        ("data", IOKind.ARTIFACT),
        ("epochs", IOKind.PARAMETER),
        ("tags", IOKind.PARAMETER),
    ]
    assert [o.name for o in spec.outputs] == ["model"]
    assert spec.return_outputs == []


def test_spec_round_trips_through_json() -> None:
    again = type(trainer.spec).model_validate_json(trainer.spec.model_dump_json())
    assert again == trainer.spec


def test_resolve_container_command() -> None:
    argv = resolve_container_command(
        trainer.spec.container,  # type: ignore[arg-type]
        values={"epochs": 5, "tags": ["x", "y"]},
        paths={"data": "/in/data", "model": "/out/model"},
        uris={"data": "s3://b/data"},
    )
    assert argv == [
        "python", "-m", "train",
        "--data", "/in/data", "--src", "s3://b/data", "--epochs", "5",
        "--out", "/out/model", "--tags", '["x","y"]', "3",
    ]  # fmt: skip


def test_resolve_keeps_strings_and_encodes_other_json() -> None:
    cmd = ContainerCommand(
        image="alpine",
        command=["echo"],
        args=[Placeholder(placeholder="input_value", name=n) for n in "abcd"],
    )
    values = {"a": "plain text", "b": True, "c": None, "d": {"k": 1.5}}
    assert resolve_container_command(cmd, values, {}, {}) == [
        "echo", "plain text", "true", "null", '{"k":1.5}',
    ]  # fmt: skip


def test_resolve_reports_a_missing_value() -> None:
    cmd = ContainerCommand(image="alpine", args=[Placeholder(placeholder="output_uri", name="m")])
    with pytest.raises(ValidationError, match="output_uri\\('m'\\)"):
        resolve_container_command(cmd, {}, {}, {})


def test_placeholders_cannot_be_formatted_into_strings() -> None:
    with pytest.raises(ComponentError, match="separate argument"):

        @container_component
        def bad(rows: int) -> ContainerSpec:
            return ContainerSpec(image="alpine", command=["echo", f"--rows={rows}"])


def test_must_return_a_container_spec() -> None:
    with pytest.raises(ComponentError, match="must return a ContainerSpec"):

        @container_component
        def bad(rows: int) -> ContainerSpec:
            return ["echo"]  # type: ignore[return-value]

    with pytest.raises(ComponentError, match="annotated '-> ContainerSpec'"):

        @container_component
        def returns_int(rows: int) -> int:
            return 1


def test_bad_container_spec_contents() -> None:
    with pytest.raises(ComponentError, match="image reference"):

        @container_component
        def spaces() -> ContainerSpec:
            return ContainerSpec(image="my image")

    with pytest.raises(ComponentError, match="cannot be a command argument"):

        @container_component
        def objects() -> ContainerSpec:
            return ContainerSpec(image="alpine", args=[{"a": 1}])

    with pytest.raises(ComponentError, match="must be a list"):

        @container_component
        def string_command() -> ContainerSpec:
            return ContainerSpec(image="alpine", command="echo hi")  # type: ignore[arg-type]

    with pytest.raises(ComponentError, match="metadata is not available"):

        @container_component
        def metadata(data: Input[Dataset]) -> ContainerSpec:
            return ContainerSpec(image="alpine", args=[data.metadata])


def test_errors_while_building_the_spec_name_the_component() -> None:
    with pytest.raises(ComponentError, match=r"container component 'broken'.*ZeroDivisionError"):

        @container_component
        def broken() -> ContainerSpec:
            return ContainerSpec(image="alpine", args=[str(1 / 0)])


def test_container_components_do_not_run_outside_a_pipeline() -> None:
    with pytest.raises(ComponentError, match="only run inside a pipeline"):
        trainer(data="/x", epochs=1)


def test_options_and_digest() -> None:
    @container_component(name="echo-it", cache_version="3")
    def echo(msg: str) -> ContainerSpec:
        return ContainerSpec(image="alpine", command=["echo", msg])

    @container_component(name="echo-it", cache_version="3")
    def echo_other(msg: str) -> ContainerSpec:
        return ContainerSpec(image="alpine:3.20", command=["echo", msg])

    assert echo.name == "echo-it"
    assert echo.spec.cache_version == "3"
    assert len(echo.spec.digest) == 64
    assert echo.spec.digest != echo_other.spec.digest
