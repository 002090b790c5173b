"""load_pipeline: real module names, source roots, choosing the pipeline, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.dsl.loader import load_pipeline
from runner.errors import (
    ComponentError,
    NotFoundError,
    PipelineDefinitionError,
    ValidationError,
)
from tests.unit.dsl.conftest import WriteModule

FLOW = """
from runner import component, pipeline

@component
def step(n: int) -> int:
    return n

@pipeline(name="{name}")
def {func}(n: int = 1):
    step(n=n)
"""


def _flow(name: str = "flow", func: str = "flow") -> str:
    return FLOW.format(name=name, func=func)


def test_plain_directory(write_module: WriteModule, tmp_path: Path) -> None:
    file = write_module(_flow(), name="plain_flow_mod")
    loaded = load_pipeline(str(file))
    assert loaded.module == "plain_flow_mod"
    assert loaded.source_root == tmp_path.resolve()
    assert loaded.file == file.resolve()
    assert loaded.pipeline.name == "flow"
    assert sys.path[0] == str(tmp_path.resolve())
    spec = loaded.pipeline.compile()
    assert spec.components["step"].entrypoint == "plain_flow_mod:step"


def test_package_walk(write_module: WriteModule, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    pkg = root / "loadpkg" / "sub"
    write_module("", name="__init__", directory=root / "loadpkg")
    write_module("", name="__init__", directory=pkg)
    write_module(
        """
        from runner import component

        @component
        def shared(n: int) -> int:
            return n
        """,
        name="comps",
        directory=pkg,
    )
    file = write_module(
        """
        from runner import pipeline
        from .comps import shared

        @pipeline
        def packaged(n: int = 1):
            shared(n=n)
        """,
        name="flows",
        directory=pkg,
    )
    loaded = load_pipeline(f"{file}:packaged")
    assert loaded.module == "loadpkg.sub.flows"
    assert loaded.source_root == root.resolve()
    spec = loaded.pipeline.compile()
    assert spec.components["shared"].entrypoint == "loadpkg.sub.comps:shared"


def test_choosing_among_several_pipelines(write_module: WriteModule) -> None:
    file = write_module(_flow("first", "first") + _flow("second", "second").split("\n", 2)[2])
    with pytest.raises(PipelineDefinitionError, match="several pipelines \\(first, second\\)"):
        load_pipeline(str(file))
    assert load_pipeline(f"{file}:second").pipeline.name == "second"


def test_bad_function_names(write_module: WriteModule) -> None:
    file = write_module(_flow())
    with pytest.raises(
        PipelineDefinitionError, match="nope does not exist; pipelines in the file: flow"
    ):
        load_pipeline(f"{file}:nope")
    with pytest.raises(PipelineDefinitionError, match="step is not decorated with @pipeline"):
        load_pipeline(f"{file}:step")


def test_no_pipeline(write_module: WriteModule) -> None:
    file = write_module(
        """
        from runner import component, pipeline

        @component
        def step(n: int) -> int:
            return n
        """
    )
    with pytest.raises(PipelineDefinitionError, match="defines no @pipeline"):
        load_pipeline(str(file))


def test_imported_pipelines_are_not_picked(write_module: WriteModule) -> None:
    write_module(_flow(), name="origin_flows")
    file = write_module("from origin_flows import flow\n", name="reexport")
    with pytest.raises(PipelineDefinitionError, match="defines no @pipeline"):
        load_pipeline(str(file))
    assert load_pipeline(f"{file}:flow").module == "reexport"


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_pipeline(str(tmp_path / "missing.py"))
    other = tmp_path / "flow.txt"
    other.write_text("x")
    with pytest.raises(ValidationError, match="not a Python"):
        load_pipeline(str(other))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import not_a_module_xyz\n", "ModuleNotFoundError: No module named 'not_a_module_xyz'"),
        ("def broken(:\n", "SyntaxError"),
        ("x = 1\nraise RuntimeError('boom')\n", r"RuntimeError: boom \(dsl_case_\d+\.py:2\)"),
    ],
)
def test_import_failures(write_module: WriteModule, source: str, message: str) -> None:
    file = write_module(source)
    with pytest.raises(PipelineDefinitionError, match=f"cannot import {file.name}.*{message}"):
        load_pipeline(str(file))


def test_decorator_errors_pass_through(write_module: WriteModule) -> None:
    file = write_module(
        """
        from runner import component

        @component
        def untyped(x):
            return x
        """
    )
    with pytest.raises(ComponentError, match="argument 'x' has no type hint"):
        load_pipeline(str(file))


def test_module_name_taken_by_another_module(write_module: WriteModule) -> None:
    file = write_module(_flow(), name="json")
    with pytest.raises(PipelineDefinitionError, match=r"module name 'json' .* already taken"):
        load_pipeline(str(file))


def test_script_run_as_main_records_its_real_module_name(tmp_path: Path) -> None:
    script = tmp_path / "as_script.py"
    script.write_text(
        _flow()
        + '\nif __name__ == "__main__":\n'
        + "    print(flow.compile().components['step'].entrypoint)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "as_script:step"
