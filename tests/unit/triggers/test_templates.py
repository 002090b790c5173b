"""Parameter templates: a fixed namespace, a few filters, types kept, no code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runner.triggers import ObjectEvent, Template, TemplateError
from runner.triggers.templates import namespace, render_parameters

OBJ = ObjectEvent(
    bucket="training-data",
    key="incoming/day=2026-11-28/part 1.csv",
    event_name="s3:ObjectCreated:Put",
    size=48213,
    etag="9b2c",
    sequencer="187B",
    time=datetime(2026, 11, 28, 9, 27, 27, tzinfo=UTC),
)
NAMES = namespace(OBJ, "incoming", datetime(2030, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ object.uri }}", "s3://training-data/incoming/day=2026-11-28/part 1.csv"),
        ("{{object.key}}", "incoming/day=2026-11-28/part 1.csv"),
        ("{{ object.bucket }}", "training-data"),
        ("{{ object.size }}", 48213),
        ("{{ object.etag }}", "9b2c"),
        ("{{ object.version }}", ""),
        ("{{ object.sequencer }}", "187B"),
        ("{{ event.time }}", "2026-11-28T09:27:27+00:00"),
        ("{{ event.name }}", "s3:ObjectCreated:Put"),
        ("{{ trigger.name }}", "incoming"),
        ("{{ object.key | basename }}", "part 1.csv"),
        ("{{ object.key | dirname | basename }}", "day=2026-11-28"),
        ("{{ object.key | stem | upper }}", "PART 1"),
        ("{{ object.key | urlencode }}", "incoming/day%3D2026-11-28/part%201.csv"),
        ("size={{ object.size }} bytes", "size=48213 bytes"),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_renders(text: str, expected: object) -> None:
    assert Template.compile(text).render(NAMES) == expected


def test_event_time_falls_back_to_now_when_the_object_has_none() -> None:
    names = namespace(ObjectEvent("b-1", "k", "s3:ObjectCreated:Put", etag="e"), "t", OBJ.time)  # type: ignore[arg-type]
    assert names["event.time"] == "2026-11-28T09:27:27+00:00"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{{ object.path }}", "unknown variable 'object.path'"),
        ("{{ object.key | shout }}", "unknown filter 'shout'"),
        ("{{ object.key ", "unclosed or malformed"),
        ("object.key }}", "unclosed or malformed"),
        ("{{ __import__('os').system('x') }}", "unclosed or malformed"),
        ("{{ object.__class__ }}", "unknown variable"),
        ("{{ object.key() }}", "unclosed or malformed"),
    ],
)
def test_mistakes_are_found_at_compile_time(text: str, match: str) -> None:
    with pytest.raises(TemplateError, match=match):
        Template.compile(text)


def test_render_parameters_leaves_other_json_values_alone() -> None:
    params = {"uri": "{{ object.uri }}", "n": 3, "tags": ["{{ object.key }}"], "flag": True}
    rendered = render_parameters(params, NAMES)
    assert rendered == {
        "uri": "s3://training-data/incoming/day=2026-11-28/part 1.csv",
        "n": 3,
        "tags": ["{{ object.key }}"],
        "flag": True,
    }
