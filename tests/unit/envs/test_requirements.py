"""Requirement sets: one environment per sorted, normalised set, interpreter and index."""

from __future__ import annotations

from runner.config import EnvironmentSettings
from runner.envs.requirements import (
    constraints_text,
    environment_digest,
    freeze_digest,
    normalise_requirement,
    own_distributions,
    requirement_set,
)


def test_names_are_normalised_and_specifiers_kept() -> None:
    assert normalise_requirement("Scikit_Learn >= 1.3") == "scikit-learn>=1.3"
    assert normalise_requirement("zope.interface[docs]==5.*") == "zope-interface[docs]==5.*"
    assert (
        normalise_requirement('numpy>=1 ; python_version >= "3.11"')
        == 'numpy>=1; python_version >= "3.11"'
    )


def test_a_set_is_sorted_and_deduplicated() -> None:
    assert requirement_set(["numpy", "Scikit_Learn>=1.3", "NumPy"]) == [
        "numpy",
        "scikit-learn>=1.3",
    ]


def test_the_digest_covers_the_set_and_the_index_but_not_the_order() -> None:
    settings = EnvironmentSettings()
    one = environment_digest(requirement_set(["a", "b==1"]), settings)
    assert one == environment_digest(requirement_set(["B==1", "a"]), settings)
    assert one != environment_digest(requirement_set(["a", "b==2"]), settings)
    other_index = EnvironmentSettings(index_url="https://example.invalid/simple")
    assert one != environment_digest(requirement_set(["a", "b==1"]), other_index)
    assert one != environment_digest(
        requirement_set(["a", "b==1"]),
        settings,
        {"version": "3.99.0", "implementation": "cpython", "executable": "/x"},
    )


def test_constraints_pin_runner_own_distributions() -> None:
    own = own_distributions()
    assert "pydantic" in own
    assert f"pydantic=={own['pydantic']}\n" in constraints_text(own)


def test_the_freeze_digest_ignores_order_and_comments() -> None:
    assert freeze_digest("a==1\nb==2\n") == freeze_digest("# resolved\nb==2\na==1")
    assert freeze_digest("a==1\n") != freeze_digest("a==2\n")
