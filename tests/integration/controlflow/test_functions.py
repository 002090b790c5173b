"""The shipped control-flow examples with real scikit-learn work: the sweep and the
demo's conditional registration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.api import submit
from runner.core import RunStatus, StepStatus
from runner.dsl.loader import load_pipeline
from runner.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


async def test_the_sweep_example_trains_per_learning_rate_and_registers_the_best(
    stack: Stack,
) -> None:
    loaded = load_pipeline(f"{FUNCTIONS / 'sweep.py'}:sweep")
    handle = await submit(
        loaded.pipeline, {"dataset": "iris", "points": 3, "min_accuracy": 0.5},
        bus=stack.bus, store=stack.store, source_root=loaded.source_root,
    )  # fmt: skip
    state = await handle.wait(timeout=300)
    errors = {name: step.error for name, step in state.steps.items() if step.error}
    assert state.status is RunStatus.SUCCEEDED, errors
    rates = [item["learning_rate"] for item in state.loops["for-loop-1"].items or []]
    assert rates == [0.001, 0.01, 0.1]
    accuracies = [state.steps[f"evaluate[{i}]"].parameters["output"] for i in range(3)]
    best = state.steps["select-best"].parameters
    assert best["accuracy"] == max(accuracies)
    assert state.steps["register"].status is StepStatus.SUCCEEDED
    card_ref = state.steps["register"].outputs["card"]
    card = json.loads(await stack.store.get_bytes(stack.store.key_for(card_ref.uri)))
    assert card["name"] == "sweep"
    assert card["metrics"] == {"accuracy": best["accuracy"]}
    assert state.steps["register"].parameters["output"] == f"sweep:{card['version']}"


async def test_the_demo_skips_registration_below_the_accuracy_bar(stack: Stack) -> None:
    loaded = load_pipeline(f"{FUNCTIONS / 'demo.py'}:demo")
    handle = await submit(
        loaded.pipeline, {"min_accuracy": 1.01},
        bus=stack.bus, store=stack.store, source_root=loaded.source_root,
    )  # fmt: skip
    state = await handle.wait(timeout=300)
    assert state.status is RunStatus.SUCCEEDED, state.error
    assert state.steps["evaluate"].status is StepStatus.SUCCEEDED
    assert state.steps["register"].status is StepStatus.SKIPPED
