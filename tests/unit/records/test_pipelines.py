"""Publishing a pipeline, the one pipeline reference type and the NAME@VERSION parser."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.api import submit
from runner.bus import MemoryBus
from runner.dsl.loader import LoadedPipeline, load_pipeline
from runner.errors import ValidationError
from runner.lifecycle.registry import PipelineRegistry, upload_pipeline, version_key
from runner.records.pipelines import PipelineRef, is_pipeline_ref, parse_ref
from runner.store.memory import MemoryStore
from runner.triggers import Trigger, freeze_pipeline
from tests.unit.triggers.helpers import run_requests

DATA = Path(__file__).parent / "data"
"""JSON stored by the code before the records layer (commit 54001f7): a trigger
definition as in the ``runner-triggers`` KV bucket, a registry version record."""

SOURCE = """
from runner import component, pipeline


@component
def double(n: int) -> int:
    return 2 * n


@pipeline(name="pub", description="published three ways")
def pub(n: int = 3):
    double(n=n)
"""

_modules = itertools.count()


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[LoadedPipeline]:
    name = f"pubpipe_{next(_modules)}"
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE)
    yield load_pipeline(str(path))
    sys.modules.pop(name, None)


async def test_submit_triggers_and_the_registry_publish_the_same_spec_and_code(
    loaded: LoadedPipeline,
) -> None:
    bus = MemoryBus()
    await bus.ensure_streams()
    submitted, frozen_in, uploaded_in = MemoryStore(), MemoryStore(), MemoryStore()
    await submit(loaded.pipeline, bus=bus, store=submitted)
    (requested,) = run_requests(bus)
    frozen = await freeze_pipeline(f"{loaded.file}:pub", frozen_in)
    version, _ = await upload_pipeline(uploaded_in, loaded, version="v1")

    assert requested.code is not None
    assert frozen.code is not None
    assert version.code is not None
    published = {
        "submit": (requested.pipeline_digest, requested.code.digest),
        "trigger": (frozen.digest, frozen.code.digest),
        "registry": (version.digest, version.code.digest),
    }
    assert len(set(published.values())) == 1, published
    assert requested.pipeline_digest == loaded.pipeline.compile().digest()
    for store, spec_uri, code_uri in [
        (submitted, requested.spec_uri, requested.code.uri),
        (frozen_in, frozen.spec_uri, frozen.code.uri),
        (uploaded_in, version.spec_uri, version.code.uri),
    ]:
        assert await store.exists(store.key_for(spec_uri))
        assert await store.exists(store.key_for(code_uri))
    assert frozen.source == version.source == f"{loaded.file}:pub"
    assert frozen.description == version.description == "published three ways"
    assert frozen.origin == f"file:{loaded.file}:pub"
    assert version.origin == "registry:pub@v1"


def test_names_and_versions_are_parsed_in_one_place() -> None:
    assert parse_ref("iris@v2.1_rc-1") == ("iris", "v2.1_rc-1")
    assert parse_ref(" iris ") == ("iris", None)
    assert is_pipeline_ref("iris@v2")
    assert is_pipeline_ref("iris")
    assert is_pipeline_ref("iris@")  # shaped like one: parse_ref says what is wrong
    for target in ["iris.py", "src/iris.py:train", "iris@v1.py", "Iris@v1", "./iris"]:
        assert not is_pipeline_ref(target), target


@pytest.mark.parametrize("bad", ["iris@", "@v1", ""])
def test_a_malformed_reference_says_what_is_expected(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"is not NAME or NAME@VERSION \(e\.g\. iris@v2\)"):
        parse_ref(bad)


def test_a_bad_version_or_name_says_which() -> None:
    with pytest.raises(ValidationError, match=r"version 'a\.\.b' is not a valid version name"):
        parse_ref("iris@a..b")
    with pytest.raises(ValidationError, match="pipeline 'Iris' is not a valid name"):
        parse_ref("Iris@v1")


async def test_a_registry_target_with_a_bad_version_is_refused_by_the_parser() -> None:
    with pytest.raises(ValidationError, match="is not a valid version name"):
        await freeze_pipeline("iris@-x", MemoryStore(), registry=PipelineRegistry(MemoryStore()))


def test_a_trigger_stored_before_the_records_layer_is_read() -> None:
    from_file = Trigger.model_validate_json((DATA / "trigger-from-file.json").read_bytes())
    ref = from_file.pipeline
    assert (ref.name, ref.version, ref.source) == ("ingest", None, "/src/ingest.py:ingest")
    assert ref.origin == "file:/src/ingest.py:ingest"
    assert [p.name for p in ref.parameters] == ["uri", "size"]
    assert ref.code is not None
    assert ref.code.digest == "sha256:" + "cd" * 32

    registered = Trigger.model_validate_json((DATA / "trigger-from-registry.json").read_bytes())
    ref = registered.pipeline
    assert (ref.version, ref.source, ref.ref) == ("v1", None, "ingest@v1")
    assert ref.origin == "registry:ingest@v1"


def test_a_trigger_reads_back_what_it_stored() -> None:
    stored = Trigger.model_validate_json((DATA / "trigger-from-file.json").read_bytes())
    again = Trigger.model_validate_json(stored.model_dump_json())
    assert again == stored
    assert again.pipeline.origin == "file:/src/ingest.py:ingest"


async def test_a_version_record_stored_before_the_records_layer_is_read() -> None:
    store = MemoryStore()
    await store.put_if_absent(
        version_key("ingest", "v1"), (DATA / "version-record.json").read_bytes()
    )
    record = await PipelineRegistry(store).get("ingest", "v1")
    assert (record.ref, record.description, record.source) == (
        "ingest@v1",
        "first",
        "/src/ingest.py:ingest",
    )
    assert record.created_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert record.parameters == []
    assert record.origin == "registry:ingest@v1"
    assert PipelineRef.model_validate_json(record.model_dump_json()) == record
