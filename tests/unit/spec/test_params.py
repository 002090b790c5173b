"""The one parameter type table: which JSON kinds each declared type takes, and json_kind."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import PipelineDefinitionError
from runner.spec import ParameterDecl, ParameterType, PipelineSpec
from runner.spec.params import (
    PARAMETER_KINDS,
    accepts,
    check_known_parameters,
    check_run_parameters,
    coerce,
    describe_parameters,
    fits,
    json_kind,
    missing_parameters,
    no_such_parameter,
    unknown_parameters,
)

# One value of each JSON kind (numbers twice: a whole one and one with a fraction).
SAMPLES: dict[str, Any] = {
    "null": None,
    "bool": True,
    "int": 3,
    "float": 2.5,
    "str": "x",
    "list": [1],
    "dict": {"k": 1},
}

ACCEPTED: dict[ParameterType, set[str]] = {
    ParameterType.INT: {"int"},
    ParameterType.FLOAT: {"int", "float"},
    ParameterType.STR: {"str"},
    ParameterType.BOOL: {"bool"},
    ParameterType.LIST: {"list"},
    ParameterType.DICT: {"dict"},
    ParameterType.ANY: set(SAMPLES),
}


def test_every_declared_type_is_in_the_table() -> None:
    assert set(PARAMETER_KINDS) == set(ParameterType) == set(ACCEPTED)


@pytest.mark.parametrize("ptype", list(ParameterType))
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_each_type_accepts_exactly_its_kinds(ptype: ParameterType, sample: str) -> None:
    assert accepts(ptype, SAMPLES[sample]) is (sample in ACCEPTED[ptype])


@pytest.mark.parametrize(
    ("ptype", "value", "ok"),
    [
        (ParameterType.INT, 3.0, False),  # a number with a fraction part, even .0
        (ParameterType.INT, False, False),  # bool is an int in Python, never a JSON number
        (ParameterType.FLOAT, True, False),
        (ParameterType.FLOAT, float("nan"), True),  # the kind fits; json_problem refuses it
        (ParameterType.LIST, (1, 2), True),  # a tuple in pipeline code is a JSON list
        (ParameterType.DICT, {1, 2}, False),  # not JSON: no kind
        (ParameterType.STR, b"x", False),
        (ParameterType.ANY, {1, 2}, True),  # any kind; JSON-ness is json_problem's
    ],
)
def test_edges_of_the_table(ptype: ParameterType, value: object, ok: bool) -> None:
    assert accepts(ptype, value) is ok


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (False, "bool"),
        (0, "number"),
        (1.5, "number"),
        ("", "str"),
        ([], "list"),
        ((1,), "list"),
        ({}, "dict"),
    ],
)
def test_json_kind(value: object, kind: str) -> None:
    assert json_kind(value) == kind


@pytest.mark.parametrize("value", [{1}, object(), b"x"])
def test_json_kind_refuses_what_is_not_json(value: object) -> None:
    with pytest.raises(TypeError, match="is not a JSON value"):
        json_kind(value)


def test_the_table_kinds_are_json_kinds() -> None:
    kinds = {json_kind(v) for v in SAMPLES.values()}
    assert set(PARAMETER_KINDS.values()) - {"any"} <= kinds


def test_none_fits_only_where_the_default_is_none() -> None:
    nullable = ParameterDecl(name="n", type=ParameterType.INT, optional=True, default=None)
    with_default = ParameterDecl(name="n", type=ParameterType.INT, optional=True, default=1)
    required = ParameterDecl(name="n", type=ParameterType.INT)
    assert fits(nullable, None)
    assert fits(nullable, 1)
    assert not fits(with_default, None)
    assert not fits(required, None)


def test_coerce_makes_ints_for_floats_floats() -> None:
    assert (coerce(ParameterType.FLOAT, 2), type(coerce(ParameterType.FLOAT, 2))) == (2.0, float)
    assert type(coerce(ParameterType.ANY, 2)) is int
    assert coerce(ParameterType.FLOAT, 10**400) == 10**400  # beyond floats: left alone


DECLS = [
    ParameterDecl(name="rows", type=ParameterType.INT),
    ParameterDecl(name="lr", type=ParameterType.FLOAT, optional=True, default=0.1),
]
SPEC = PipelineSpec(name="demo", parameters=DECLS)


def test_unknown_and_missing_names() -> None:
    assert unknown_parameters(DECLS, ["zz", "rows", "aa"]) == ["zz", "aa"]
    assert missing_parameters(DECLS, ["lr"]) == [DECLS[0]]
    assert missing_parameters(DECLS, ["rows"]) == []
    assert describe_parameters(DECLS) == "rows (int, required), lr (float, default 0.1)"
    assert describe_parameters([]) == "none"


def test_the_unknown_parameter_message_lists_the_declared_ones() -> None:
    assert no_such_parameter("demo", DECLS, "epochs") == (
        "pipeline 'demo' has no parameter 'epochs'; its parameters: rows (int, required), "
        "lr (float, default 0.1)"
    )


def test_check_known_parameters_names_the_first_unknown_by_name() -> None:
    check_known_parameters(SPEC, ["rows", "lr"])
    check_known_parameters(SPEC, [])
    with pytest.raises(PipelineDefinitionError, match="has no parameter 'aa'; its parameters"):
        check_known_parameters(SPEC, ["zz", "rows", "aa"])


def test_check_run_parameters_applies_defaults_and_reports_every_problem() -> None:
    declared = {d.name: d for d in DECLS}
    assert check_run_parameters(declared, {"rows": 2}) == ({"rows": 2, "lr": 0.1}, [])
    values, problems = check_run_parameters(declared, {"lr": float("inf"), "x": 1})
    assert values == {}
    assert [p.split(";")[0] for p in problems] == [
        "unknown parameter 'x' (declared: rows, lr)",
        "parameter 'rows' (int) is required",
        "parameter 'lr' is not a JSON value (inf is not a finite number)",
    ]
