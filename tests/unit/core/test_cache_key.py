"""compute_cache_key: sensitive to what determines outputs, blind to the rest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.core import compute_cache_key, effective_image
from runner.events import ArtifactRef
from runner.spec import ComponentSpec, ContainerCommand, KubernetesOptions, Resources, RetryPolicy
from runner.spec import TaskSpec as Task
from tests.unit.core.factories import component, task

COMPONENT = component("train", image="python:3.11-slim", packages=["numpy", "pandas"])
TASK = task("train", component="train", env={"SEED": "1"})
PARAMS: dict[str, Any] = {"lr": 0.1, "layers": [64, 32]}
DATA = ArtifactRef(uri="s3://b/runs/r1/prep/data", digest="sha256:aaa", size=10)


def _key(
    comp: ComponentSpec = COMPONENT,
    t: Task = TASK,
    params: dict[str, Any] | None = None,
    artifacts: dict[str, ArtifactRef] | None = None,
) -> str:
    return compute_cache_key(
        comp,
        t,
        PARAMS if params is None else params,
        {"data": DATA} if artifacts is None else artifacts,
    )


BASE = _key()


def test_key_is_hex_sha256_and_deterministic() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", BASE)
    assert _key() == BASE
    # Dict order does not matter: the JSON is canonical.
    assert _key(params={"layers": [64, 32], "lr": 0.1}) == BASE


def test_key_is_the_same_in_another_process() -> None:
    # A fresh interpreter has another hash seed: nothing may depend on set/dict hashing.
    code = (
        "from tests.unit.core.test_cache_key import BASE, _key; assert _key() == BASE; print(BASE)"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    assert out.strip() == BASE


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(lambda: _key(comp=COMPONENT.model_copy(update={"digest": "x"})), id="digest"),
        pytest.param(
            lambda: _key(comp=COMPONENT.model_copy(update={"image": "py:3.12"})), id="image"
        ),
        pytest.param(lambda: _key(t=TASK.model_copy(update={"image": "other:1"})), id="task-image"),
        pytest.param(
            lambda: _key(comp=COMPONENT.model_copy(update={"packages": ["numpy"]})), id="packages"
        ),
        pytest.param(
            lambda: _key(comp=COMPONENT.model_copy(update={"cache_version": "2"})),
            id="cache_version",
        ),
        pytest.param(lambda: _key(t=TASK.model_copy(update={"env": {"SEED": "2"}})), id="env"),
        pytest.param(lambda: _key(t=TASK.model_copy(update={"env": {}})), id="env-removed"),
        pytest.param(lambda: _key(params={**PARAMS, "lr": 0.2}), id="param-value"),
        pytest.param(lambda: _key(params={**PARAMS, "extra": None}), id="param-added"),
        pytest.param(lambda: _key(params={"lr": 0.1, "layers": [32, 64]}), id="param-order"),
        pytest.param(
            lambda: _key(artifacts={"data": DATA.model_copy(update={"digest": "sha256:bbb"})}),
            id="artifact-digest",
        ),
        pytest.param(lambda: _key(artifacts={"other": DATA}), id="artifact-input-name"),
        pytest.param(lambda: _key(artifacts={}), id="artifact-removed"),
    ],
)
def test_key_changes_with_what_determines_outputs(changed: Any) -> None:
    assert changed() != BASE


@pytest.mark.parametrize(
    "same",
    [
        pytest.param(
            lambda: _key(t=TASK.model_copy(update={"resources": Resources(cpu="8", gpu=1)})),
            id="resources",
        ),
        pytest.param(
            lambda: _key(t=TASK.model_copy(update={"retry": RetryPolicy(max_attempts=5)})),
            id="retry",
        ),
        pytest.param(
            lambda: _key(t=TASK.model_copy(update={"timeout_seconds": 9.0})), id="timeout"
        ),
        pytest.param(
            lambda: _key(
                t=TASK.model_copy(
                    update={"kubernetes": KubernetesOptions(node_selector={"a": "b"})}
                )
            ),
            id="kubernetes",
        ),
        pytest.param(lambda: _key(t=TASK.model_copy(update={"name": "other"})), id="task-name"),
        pytest.param(lambda: _key(t=TASK.model_copy(update={"caching": False})), id="caching-flag"),
        pytest.param(
            lambda: _key(
                artifacts={
                    "data": DATA.model_copy(
                        update={"uri": "file:///elsewhere", "size": 11, "metadata": {"rows": 3}}
                    )
                }
            ),
            id="artifact-uri-size-metadata",
        ),
        pytest.param(
            lambda: _key(t=TASK.model_copy(update={"image": COMPONENT.image})),
            id="task-image-equal-to-component",
        ),
    ],
)
def test_key_ignores_where_and_how_a_step_runs(same: Any) -> None:
    assert same() == BASE


def test_non_json_values_raise_value_error() -> None:
    with pytest.raises(ValueError, match="JSON"):
        _key(params={"lr": float("nan")})


def test_effective_image_prefers_task_then_component_then_container() -> None:
    container = ComponentSpec(
        name="c", kind="container", digest="d", container=ContainerCommand(image="busybox:1")
    )
    assert effective_image(container, task("t")) == "busybox:1"
    assert effective_image(COMPONENT, task("t")) == "python:3.11-slim"
    assert effective_image(COMPONENT, task("t", image="mine:2")) == "mine:2"
    assert effective_image(component("bare"), task("t")) is None
