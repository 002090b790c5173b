"""The pipeline registry (in-memory store) and version diffs."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.cli.pipelines import diff_lines
from runner.dsl.loader import LoadedPipeline, load_pipeline
from runner.errors import NotFoundError, ValidationError
from runner.lifecycle.diff import diff_specs
from runner.lifecycle.registry import PipelineRegistry, upload_pipeline
from runner.records.pipelines import parse_ref
from runner.spec.models import ParameterDecl, ParameterType
from runner.store.memory import MemoryStore
from runner.triggers.pipelines import freeze_pipeline

SOURCE = """
from runner import component, pipeline


@component
def prep(n: int) -> int:
    return n


@component
def train(x: int) -> str:
    return "{body}"


@pipeline(name="reg")
def reg(n: int = 3):
    train(x=prep(n=n).output)
"""

_modules = itertools.count()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], LoadedPipeline]:
    """Write SOURCE with ``body`` into one file (same module each time, as an edit is)."""
    name = f"regpipe_{next(_modules)}"
    path = tmp_path / f"{name}.py"

    def edit(body: str) -> LoadedPipeline:
        sys.modules.pop(name, None)
        path.write_text(SOURCE.replace("{body}", body))
        return load_pipeline(str(path))

    yield edit
    sys.modules.pop(name, None)


async def test_versions_are_immutable_and_named(write: Callable[[str], LoadedPipeline]) -> None:
    store = MemoryStore()
    v1, created = await upload_pipeline(store, write("one"), version="v1", description="first")
    assert created
    assert v1.ref == "reg@v1"
    assert v1.description == "first"
    same, created = await upload_pipeline(store, write("one"), version="v1")
    assert not created
    assert same == v1
    with pytest.raises(ValidationError) as caught:
        await upload_pipeline(store, write("two"), version="v1")
    assert v1.digest[:12] in str(caught.value)
    assert "immutable" in str(caught.value)
    anonymous, _ = await upload_pipeline(store, write("two"))
    assert anonymous.version == anonymous.digest[:12]
    registry = PipelineRegistry(store)
    assert await registry.names() == ["reg"]
    assert [v.version for v in await registry.versions("reg")] == ["v1", anonymous.version]
    assert (await registry.lookup("reg")).version == anonymous.version  # the latest
    assert (await registry.spec(v1)).digest() == v1.digest
    ref = await registry.resolve("reg", "v1")  # what a trigger runs
    assert (ref.digest, ref.origin) == (v1.digest, "registry:reg@v1")


async def test_unknown_names_and_versions_list_what_exists(
    write: Callable[[str], LoadedPipeline],
) -> None:
    store = MemoryStore()
    await upload_pipeline(store, write("one"), version="v1")
    registry = PipelineRegistry(store)
    with pytest.raises(
        NotFoundError, match=r"'nope' is not registered \(registered pipelines: reg\)"
    ):
        await registry.lookup("nope@v1")
    with pytest.raises(NotFoundError, match=r"no version 'v9' \(its versions: v1\)"):
        await registry.lookup("reg@v9")


@pytest.mark.parametrize("bad", ["reg@", "reg@-x", "reg@a/b", "reg@a..b", "Reg@v1", "@v1"])
def test_bad_references_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_ref(bad)


def test_references() -> None:
    assert parse_ref("iris@v2.1_rc-1") == ("iris", "v2.1_rc-1")
    assert parse_ref("iris") == ("iris", None)


def test_diff_shows_exactly_the_changed_component(
    write: Callable[[str], LoadedPipeline],
) -> None:
    old = write("one").pipeline.compile()
    new = write("two").pipeline.compile()
    diff = diff_specs(old, new, old_label="reg@v1", new_label="reg@v2", old_code="a", new_code="b")
    assert diff.components.changed == {"train": ["digest"]}
    assert not diff.components.added
    assert not diff.components.removed
    assert not diff.tasks
    assert not diff.parameters
    assert diff.affected == {"train": "train"}
    assert set(diff.digests) == {"pipeline", "code"}
    text = "\n".join(diff_lines(diff))
    assert "~ train (digest)" in text
    assert "tasks: unchanged" in text


def test_diff_of_parameters_and_tasks(write: Callable[[str], LoadedPipeline]) -> None:
    old = write("one").pipeline.compile()
    new = old.model_copy(
        update={
            "parameters": [
                ParameterDecl(name="n", type=ParameterType.INT, optional=True, default=4)
            ],
            "tasks": [old.tasks[0]],
        }
    )
    diff = diff_specs(old, new)
    assert diff.parameters.changed == {"n": ["default"]}
    assert diff.tasks.removed == ["train"]
    assert diff_specs(old, old).identical


async def test_a_trigger_freezes_a_registered_version(
    write: Callable[[str], LoadedPipeline],
) -> None:
    store = MemoryStore()
    v1, _ = await upload_pipeline(store, write("one"), version="v1")
    ref = await freeze_pipeline("reg@v1", store, registry=PipelineRegistry(store))
    assert (ref.name, ref.digest, ref.code) == ("reg", v1.digest, v1.code)
    assert ref.origin == "registry:reg@v1"
    assert [p.name for p in ref.parameters] == ["n"]
