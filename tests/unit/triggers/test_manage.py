"""Adding triggers: everything checked up front; stored definitions; previews."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from runner.errors import InvalidNameError, NotFoundError, ValidationError
from runner.store.memory import MemoryStore
from runner.triggers import (
    NatsSource,
    ObjectFilter,
    PollSource,
    Sink,
    TemplateError,
    freeze_pipeline,
    new_trigger,
    preview,
    seen_bucket,
    sink_definitions,
    trigger_definitions,
)
from runner.triggers.engine import TriggerEngine
from runner.triggers.limits import RunLimiter
from runner.triggers.manage import checked
from tests.unit.triggers.helpers import PIPELINE, FakeClock, make_trigger, memory_bus, obj

FLT = ObjectFilter(bucket="training-data", prefix="incoming/")


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"uri": "x", "lr": 1}, ValidationError, "has no parameter 'lr'"),
        ({}, ValidationError, "needs parameter 'uri'"),
        ({"uri": "{{ object.nope }}"}, TemplateError, "unknown variable"),
        ({"uri": "{{ object.key | nope }}"}, TemplateError, "unknown filter"),
        ({"uri": "x", "size": "{{ object.key }}"}, ValidationError, "is int but"),
        ({"uri": "x", "size": "n={{ object.size }}"}, ValidationError, "is int but"),
        ({"uri": 3}, ValidationError, "is str but"),
    ],
)
def test_parameters_are_checked_when_the_trigger_is_added(
    params: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        new_trigger("t", PIPELINE, FLT, parameters=params)  # type: ignore[arg-type]


def test_a_whole_expression_keeps_its_type() -> None:
    trigger = new_trigger("t", PIPELINE, FLT, parameters={"uri": "u", "size": "{{ object.size }}"})
    assert trigger.parameters["size"] == "{{ object.size }}"


def test_sources_are_checked() -> None:
    with pytest.raises(ValidationError, match="not stored by runner's RUNNER_NOTIFICATIONS"):
        make_trigger(source=NatsSource(subject="minio.events"))
    make_trigger(source=NatsSource(subject="minio.events", jetstream=False))
    make_trigger(source=NatsSource(subject="minio.events", stream="MINIO"))
    with pytest.raises(ValueError, match="not a NATS subject"):
        NatsSource(subject="a b")
    with pytest.raises(ValueError, match="not a NATS subject"):
        NatsSource(subject="a.>.b")
    with pytest.raises(ValueError, match="greater than 0"):
        PollSource(interval_seconds=0)


def test_names_and_buckets_are_checked() -> None:
    with pytest.raises(InvalidNameError, match="at most 40"):
        make_trigger("t" * 41)
    with pytest.raises(InvalidNameError, match="not a valid name"):
        make_trigger("Bad_Name")
    with pytest.raises(ValidationError, match="experiment 'Bad X' is not a valid name"):
        new_trigger("t", PIPELINE, FLT, parameters={"uri": "u"}, experiment="Bad X")
    with pytest.raises(ValueError, match="bucket name"):
        ObjectFilter(bucket="No")


def test_checked_names_the_field_and_value() -> None:
    with pytest.raises(
        ValidationError, match=r"sink 'x': url 'ftp://x' is invalid: 'ftp://x' is not"
    ):
        checked(Sink, "sink 'x'", name="x", url="ftp://x")
    with pytest.raises(ValidationError, match="interval_seconds -1 is invalid"):
        checked(PollSource, "poll source", interval_seconds=-1)


def test_every_add_gets_a_fresh_uid() -> None:
    assert make_trigger().uid != make_trigger().uid


async def test_definitions_round_trip() -> None:
    bus = await memory_bus()
    triggers = await trigger_definitions(bus)
    trigger = make_trigger()
    await triggers.add(trigger.name, trigger)
    with pytest.raises(ValidationError, match=r"already exists.*--replace"):
        await triggers.add(trigger.name, trigger)
    replaced = make_trigger()
    await triggers.add(trigger.name, replaced, replace=True)
    assert (await triggers.get("incoming"))[0] == replaced
    disabled = await triggers.set_enabled("incoming", False)
    assert not disabled.enabled
    assert not (await triggers.get("incoming"))[0].enabled
    sinks = await sink_definitions(bus)
    await sinks.add("hook", Sink(name="hook", url="http://x.test/"))
    assert [t.name for t, _ in await triggers.list()] == ["incoming"]
    assert [s.name for s, _ in await sinks.list()] == ["hook"]
    await triggers.remove("incoming")
    assert await triggers.list() == []
    with pytest.raises(NotFoundError, match="no trigger named 'incoming'"):
        await triggers.remove("incoming")


async def test_unreadable_definitions_are_skipped_in_lists_and_named_on_get() -> None:
    bus = await memory_bus()
    triggers = await trigger_definitions(bus)
    await triggers.kv.put("trigger.broken", b'{"name": "broken"}')
    assert await triggers.list() == []
    with pytest.raises(Exception, match="stored trigger 'broken' is unreadable"):
        await triggers.get("broken")


async def _finished(pipeline: str, run_id: str) -> bool | None:
    return True


async def test_preview_shows_matches_parameters_and_what_already_ran() -> None:
    bus = await memory_bus()
    trigger = make_trigger(
        parameters={"uri": "{{ object.uri }}", "note": "{{ object.key | stem }}"}
    )
    seen = await seen_bucket(bus)
    engine = TriggerEngine(
        bus, seen, RunLimiter(await bus.kv_bucket("runner-triggers"), _finished), clock=FakeClock()
    )
    fired = await engine.fire(trigger, obj("incoming/a.csv"))
    shown = await preview(
        trigger, [obj("incoming/a.csv"), obj("other/b.csv")], seen, FakeClock().now
    )
    assert [p.to_json() for p in shown] == [
        {
            "uri": "s3://training-data/incoming/a.csv",
            "matches": True,
            "mismatch": None,
            "parameters": {"uri": "s3://training-data/incoming/a.csv", "note": "a"},
            "run_id": fired.run_id,
            "already_requested": True,
        },
        {
            "uri": "s3://training-data/other/b.csv",
            "matches": False,
            "mismatch": "key 'other/b.csv' does not start with 'incoming/'",
            "parameters": {"uri": "s3://training-data/other/b.csv", "note": "b"},
            "run_id": shown[1].run_id,
            "already_requested": False,
        },
    ]


_n = itertools.count()

PIPE = """
from runner import component, pipeline


@component
def echo(uri: str) -> str:
    return uri


@pipeline(name="echo-uri")
def echo_uri(uri: str, n: int = 1):
    echo(uri=uri)
"""


async def test_freeze_pipeline_stores_spec_and_code(tmp_path: Path) -> None:
    src = tmp_path / f"src{next(_n)}"
    src.mkdir()
    path = src / f"trigger_pipe_{next(_n)}.py"
    path.write_text(PIPE)
    store = MemoryStore()
    ref = await freeze_pipeline(f"{path}:echo_uri", store)
    assert ref.name == "echo-uri"
    assert ref.origin == f"file:{path}:echo_uri"
    assert [p.name for p in ref.parameters] == ["uri", "n"]
    assert await store.exists(store.key_for(ref.spec_uri))
    assert ref.code is not None
    assert await store.exists(store.key_for(ref.code.uri))
    path.write_text("raise SystemExit('edited later: the trigger keeps its frozen copy')")
    assert await store.exists(store.key_for(ref.spec_uri))


async def test_registry_targets_need_a_registry() -> None:
    with pytest.raises(ValidationError, match="no pipeline registry"):
        await freeze_pipeline("iris@v3", MemoryStore())
    with pytest.raises(NotFoundError, match="does not exist"):
        await freeze_pipeline("missing.py", MemoryStore())
