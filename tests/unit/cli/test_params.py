"""``-p NAME=VALUE`` parsing against the pipeline's declared parameter types."""

from __future__ import annotations

from typing import Any

import pytest

from runner.cli.params import describe_parameters, parse_params
from runner.errors import ValidationError
from runner.spec import ParameterDecl, ParameterType, PipelineSpec

SPEC = PipelineSpec(
    name="demo",
    parameters=[
        ParameterDecl(name="rows", type=ParameterType.INT, optional=True, default=150),
        ParameterDecl(name="lr", type=ParameterType.FLOAT, optional=True, default=0.1),
        ParameterDecl(name="shuffle", type=ParameterType.BOOL, optional=True, default=False),
        ParameterDecl(name="name", type=ParameterType.STR, optional=True, default="x"),
        ParameterDecl(name="layers", type=ParameterType.LIST, optional=True, default=[]),
        ParameterDecl(name="extra", type=ParameterType.DICT, optional=True, default={}),
        ParameterDecl(name="anything", type=ParameterType.ANY, optional=True),
    ],
)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("rows=3", {"rows": 3}),
        ("rows=-3", {"rows": -3}),
        ("lr=1e-3", {"lr": 0.001}),
        ("lr=2", {"lr": 2.0}),
        ("shuffle=yes", {"shuffle": True}),
        ("shuffle=FALSE", {"shuffle": False}),
        ("shuffle=0", {"shuffle": False}),
        ("name=a=b", {"name": "a=b"}),
        ("name=", {"name": ""}),
        ("name= padded ", {"name": " padded "}),
        ("layers=[1, 2]", {"layers": [1, 2]}),
        ('extra={"k": [1]}', {"extra": {"k": [1]}}),
        ("anything=3", {"anything": 3}),
        ("anything=hello", {"anything": "hello"}),
    ],
)
def test_values_are_parsed_by_declared_type(item: str, expected: dict[str, Any]) -> None:
    assert parse_params(SPEC, [item]) == expected


def test_a_repeated_parameter_takes_the_last_value() -> None:
    assert parse_params(SPEC, ["rows=1", "rows=2"]) == {"rows": 2}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("rows=1.5", "parameter 'rows' expects int, got '1.5'"),
        ("rows=", "parameter 'rows' expects int, got ''"),
        ("lr=fast", "parameter 'lr' expects float, got 'fast'"),
        ("lr=nan", "not a finite number"),
        ("shuffle=maybe", "use true/false"),
        ("layers={}", "JSON dict, not list"),
        ("extra=[1", "not JSON"),
    ],
)
def test_bad_values_name_parameter_type_and_value(item: str, message: str) -> None:
    with pytest.raises(ValidationError, match=r"pass e\.g\. -p") as caught:
        parse_params(SPEC, [item])
    assert message in str(caught.value)


def test_unknown_parameter_lists_the_pipeline_parameters() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_params(SPEC, ["epochs=3"])
    assert str(caught.value).startswith("pipeline 'demo' has no parameter 'epochs'; its parameters")
    assert "rows (int, default 150)" in str(caught.value)


def test_malformed_item_and_missing_required_parameter() -> None:
    with pytest.raises(ValidationError, match="is not NAME=VALUE"):
        parse_params(SPEC, ["rows"])
    with pytest.raises(ValidationError, match="is not NAME=VALUE"):
        parse_params(SPEC, ["=3"])
    required = PipelineSpec(name="p", parameters=[ParameterDecl(name="n", type=ParameterType.INT)])
    with pytest.raises(ValidationError, match=r"needs parameter 'n' \(int\): pass -p n=10"):
        parse_params(required, [])
    assert describe_parameters(required) == "n (int, required)"
    assert describe_parameters(PipelineSpec(name="p")) == "none"
