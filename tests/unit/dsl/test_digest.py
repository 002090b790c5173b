"""Component digests: what changes them, and what must not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runner import ComponentDefinition
from runner.dsl.loader import load_pipeline
from tests.unit.dsl.conftest import WriteModule

BASE = '''
"""Module docstring."""
import json
from runner import component, pipeline

SCALE = 2
LIMITS = {"low": 1, "high": 9}


def _helper(x):
    return x * SCALE


class Box:
    def size(self):
        return len(LIMITS)


@component
def a(x: int) -> int:
    return _helper(x)


@component
def b(x: int) -> int:
    return x + 1


@component
def c(x: int) -> int:
    return a.fn(x) + Box().size()


@component(packages=["numpy"])
def d() -> int:
    return _defined_later() + json.loads("1")


def _defined_later():
    return 5


@pipeline
def flow(x: int = 1):
    d().after(c(x=b(x=a(x=x).output).output))
'''


def _digests(write_module: WriteModule, source: str) -> dict[str, str]:
    loaded = load_pipeline(str(write_module(source)))
    module = sys.modules[loaded.module]
    return {
        name: value.spec.digest
        for name, value in vars(module).items()
        if isinstance(value, ComponentDefinition)
    }


def _changed(write_module: WriteModule, old: str, new: str, count: int = 1) -> set[str]:
    assert BASE.count(old) == count, old
    before = _digests(write_module, BASE)
    after = _digests(write_module, BASE.replace(old, new))
    return {name for name in before if before[name] != after[name]}


def test_same_source_same_digests(write_module: WriteModule) -> None:
    assert _digests(write_module, BASE) == _digests(write_module, BASE)


def test_editing_one_component_changes_only_its_digest(write_module: WriteModule) -> None:
    assert _changed(write_module, "return x + 1", "return x + 2") == {"b"}


def test_editing_a_helper_changes_its_users_and_their_users(write_module: WriteModule) -> None:
    assert _changed(write_module, "return x * SCALE", "return x * SCALE + 0") == {"a", "c"}


def test_editing_a_constant_changes_its_users(write_module: WriteModule) -> None:
    assert _changed(write_module, "SCALE = 2", "SCALE = 3") == {"a", "c"}
    assert _changed(write_module, '"high": 9', '"high": 10') == {"c"}  # via class Box


def test_helpers_defined_below_the_component_count(write_module: WriteModule) -> None:
    assert _changed(write_module, "return 5", "return 6") == {"d"}


def test_component_options_count(write_module: WriteModule) -> None:
    assert _changed(write_module, 'packages=["numpy"]', 'packages=["numpy>=2"]') == {"d"}


def test_imports_count_per_name(write_module: WriteModule) -> None:
    assert _changed(write_module, "import json\n", "import pickle as json\n") == {"d"}
    unrelated = "from runner import component, pipeline\n"
    assert (
        _changed(write_module, unrelated, "from runner import Model, component, pipeline\n")
        == set()
    )


def test_unrelated_edits_and_line_shifts_change_nothing(write_module: WriteModule) -> None:
    assert _changed(write_module, '"""Module docstring."""', '"""Other.\n\n\n\nLonger."""') == set()
    assert (
        _changed(write_module, "\n\nclass Box:", "\n\ndef unused():\n    return 1\n\n\nclass Box:")
        == set()
    )


def test_pipeline_edits_do_not_change_component_digests(write_module: WriteModule) -> None:
    assert _changed(write_module, "def flow(x: int = 1):", "def flow(x: int = 2):") == set()


_PRINT_DIGESTS = """
import json, sys
from runner.dsl.loader import load_pipeline
loaded = load_pipeline(sys.argv[1])
spec = loaded.pipeline.compile()
print(json.dumps({"pipeline": spec.digest(),
                  "components": {n: c.digest for n, c in spec.components.items()}}))
"""


def _digests_in_subprocess(file: Path, seed: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", _PRINT_DIGESTS, str(file)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=file.parent,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_digests_are_stable_across_processes_seeds_and_paths(tmp_path: Path) -> None:
    # The same file in two different directories, compiled under two hash seeds.
    files = []
    for where in ("one/checkout", "two"):
        folder = tmp_path / where
        folder.mkdir(parents=True)
        (folder / "digest_case.py").write_text(BASE.lstrip(), encoding="utf-8")
        files.append(folder / "digest_case.py")
    first = _digests_in_subprocess(files[0], "0")
    second = _digests_in_subprocess(files[1], "4242")
    assert first == second
    assert set(first["components"]) == {"a", "b", "c", "d"}  # type: ignore[arg-type]
