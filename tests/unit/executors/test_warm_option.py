"""``@component(warm=False)``: recorded in the spec, out of the digest and of default JSON."""

from __future__ import annotations

import pytest

from runner import component
from runner.errors import ComponentError


def double(x: int) -> int:
    return 2 * x


def test_the_option_is_in_the_spec_but_not_in_the_digest() -> None:
    warm, cold = component(double), component(warm=False)(double)
    assert warm.spec.warm is True
    assert cold.spec.warm is False
    assert warm.spec.digest == cold.spec.digest, "how a step starts does not change what it does"


def test_the_default_is_left_out_of_the_json() -> None:
    assert "warm" not in component(double).spec.model_dump(mode="json")
    assert component(warm=False)(double).spec.model_dump(mode="json")["warm"] is False


def test_a_value_that_is_not_a_bool_is_refused_with_the_fix() -> None:
    with pytest.raises(ComponentError, match=r"warm=\.\.\.\) takes True or False, got 'no'"):
        component(warm="no")(double)  # type: ignore[arg-type]
