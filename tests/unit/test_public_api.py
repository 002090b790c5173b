"""The public face of ``import runner`` is pinned: changing it is a deliberate act."""

from __future__ import annotations

import runner

EXPECTED = [
    "Artifact",
    "Collected",
    "ComponentDefinition",
    "ContainerSpec",
    "Dataset",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "Input",
    "Metrics",
    "Model",
    "OneOf",
    "Output",
    "ParallelFor",
    "PipelineDefinition",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "compile_pipeline",
    "component",
    "container_component",
    "pipeline",
    "subscribe",
    "submit",
    "request_run",
    "RunHandle",
    "Stack",
    "Settings",
]


def test_all_is_pinned() -> None:
    assert sorted(runner.__all__) == sorted(EXPECTED)
    assert len(runner.__all__) == len(set(runner.__all__))


def test_every_exported_name_exists_and_is_public() -> None:
    for name in runner.__all__:
        value = getattr(runner, name)
        module = getattr(value, "__module__", "runner")
        assert module.startswith("runner"), (name, module)


def test_public_names_are_exported() -> None:
    public = {
        name
        for name, value in vars(runner).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("runner.dsl")
    }
    assert public <= set(runner.__all__)
