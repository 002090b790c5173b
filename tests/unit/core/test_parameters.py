"""Run parameters: validation at request time fails the run (never rejects the event)."""

from __future__ import annotations

from typing import Any

import pytest

from runner.core import Plan, RunStatus, resolve_parameters
from runner.events import RunFailed
from runner.spec import ParameterDecl, ParameterType
from tests.unit.core.factories import RUN, Driver, kinds, launches, published, spec, task


def _plan() -> Plan:
    return Plan.from_spec(
        spec(
            task("a"),
            parameters=[
                ParameterDecl(name="rows", type=ParameterType.INT),
                ParameterDecl(name="lr", type=ParameterType.FLOAT, optional=True, default=0.5),
                ParameterDecl(name="name", type=ParameterType.STR, optional=True, default=None),
                ParameterDecl(name="flag", type=ParameterType.BOOL, optional=True, default=False),
                ParameterDecl(name="tags", type=ParameterType.LIST, optional=True, default=[]),
                ParameterDecl(name="cfg", type=ParameterType.DICT, optional=True, default={}),
                ParameterDecl(name="anything", type=ParameterType.ANY, optional=True, default=1),
            ],
        )
    )


DEFAULTS: dict[str, Any] = {
    "lr": 0.5,
    "name": None,
    "flag": False,
    "tags": [],
    "cfg": {},
    "anything": 1,
}


def test_defaults_fill_what_is_not_given() -> None:
    result = resolve_parameters(_plan(), {"rows": 3})
    assert result.problems == []
    assert result.values == {"rows": 3, **DEFAULTS}


@pytest.mark.parametrize(
    "given",
    [
        {"rows": 1, "lr": 1},
        {"rows": 1, "lr": 1.5, "name": "x", "flag": True, "tags": [1], "cfg": {"a": 1}},
        {"rows": 1, "anything": {"deep": [None]}},
        {"rows": 1, "name": None},
    ],
)
def test_valid_values(given: dict[str, Any]) -> None:
    result = resolve_parameters(_plan(), given)
    assert result.problems == []
    assert result.values == {**DEFAULTS, **given}


def test_int_for_float_becomes_a_float() -> None:
    value = resolve_parameters(_plan(), {"rows": 1, "lr": 2}).values["lr"]
    assert (value, type(value)) == (2.0, float)


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"rows": 1, "bogus": 2}, "unknown parameter 'bogus'"),
        ({}, "parameter 'rows' (int) is required"),
        ({"rows": "3"}, "parameter 'rows' expects int but got str"),
        ({"rows": True}, "parameter 'rows' expects int but got bool"),
        ({"rows": 1.0}, "parameter 'rows' expects int but got float"),
        ({"rows": 1, "lr": "0.1"}, "parameter 'lr' expects float but got str"),
        ({"rows": 1, "lr": False}, "parameter 'lr' expects float but got bool"),
        ({"rows": 1, "flag": 1}, "parameter 'flag' expects bool but got int"),
        ({"rows": 1, "tags": {}}, "parameter 'tags' expects list but got dict"),
        ({"rows": 1, "cfg": []}, "parameter 'cfg' expects dict but got list"),
        ({"rows": 1, "lr": float("nan")}, "parameter 'lr' is not a JSON value"),
        ({"rows": None}, "parameter 'rows' expects int but got NoneType"),
    ],
)
def test_invalid_values_name_the_parameter(given: dict[str, Any], fragment: str) -> None:
    result = resolve_parameters(_plan(), given)
    assert len(result.problems) == 1
    assert fragment in result.problems[0]


def test_invalid_parameters_fail_the_run_with_one_message() -> None:
    d = Driver(_plan())
    decision = d.request(bogus=1, lr="x")
    assert decision.rejected is None
    assert launches(decision) == []
    assert kinds(decision) == ["run.failed"]
    event = published(decision)[0]
    assert event.id == f"{RUN}/run.failed"
    assert isinstance(event.data, RunFailed)
    error = event.data.error
    assert error.reason == "InvalidParameters"
    assert "unknown parameter 'bogus' (declared: rows, lr, name, flag, tags, cfg, anything)" in (
        error.message
    )
    assert "parameter 'rows' (int) is required; pass a value for it" in error.message
    assert "parameter 'lr' expects float" in error.message
    assert d.run.status is RunStatus.FAILED
    assert d.run.error == error
    assert d.run.steps == {}
    assert d.run.finished_at == d.now
    assert d.run.started_at is None
