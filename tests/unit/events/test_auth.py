"""Signed step reports: tokens per attempt, signatures that survive the wire, forgeries."""

from __future__ import annotations

import pytest

from runner.events import EventKind
from runner.events.auth import SIGNED_KINDS, ReportKeys, sign, signature
from runner.events.codec import MSG_ID_HEADER, decode, encode, msg_id
from tests.unit.events.samples import sample

KEYS = ReportKeys(b"k" * 32)
STEP_KINDS = sorted(SIGNED_KINDS, key=lambda k: k.value)


def wire(event):  # type: ignore[no-untyped-def]
    return decode(*encode(event))


@pytest.mark.parametrize("kind", STEP_KINDS)
def test_a_controller_signature_survives_encode_and_decode(kind: EventKind) -> None:
    event = KEYS.sign(sample(kind))
    assert event.auth is not None
    assert event.auth.startswith("v1.")
    assert KEYS.verify(wire(event)) is None


@pytest.mark.parametrize(
    "kind", [EventKind.STEP_STARTED, EventKind.STEP_SUCCEEDED, EventKind.STEP_FAILED]
)
def test_an_attempt_signs_its_own_reports_with_its_token(kind: EventKind) -> None:
    event = sample(kind)
    attempt = event.data.attempt  # type: ignore[attr-defined]
    token = KEYS.attempt_token(event.run_id, event.step or "", attempt)
    assert KEYS.verify(wire(sign(event, token))) is None


def test_a_token_vouches_for_its_own_attempt_only() -> None:
    event = sample(EventKind.STEP_SUCCEEDED)
    other_step = KEYS.attempt_token(event.run_id, "another-step", 1)
    other_attempt = KEYS.attempt_token(event.run_id, event.step or "", 99)
    other_run = KEYS.attempt_token("another-run", event.step or "", 1)
    for token in (other_step, other_attempt, other_run):
        why = KEYS.verify(wire(sign(event, token)))
        assert why is not None
        assert "does not verify" in why


def test_unsigned_and_altered_step_events_are_refused() -> None:
    event = sample(EventKind.STEP_SUCCEEDED)
    unsigned = KEYS.verify(wire(event))
    assert unsigned is not None
    assert "no runnerauth signature" in unsigned
    signed = KEYS.sign(event)
    altered = signed.model_copy(
        update={"data": signed.data.model_copy(update={"parameters": {"output": 999}})}
    )
    assert KEYS.verify(wire(altered)) is not None
    renamed = signed.model_copy(update={"id": signed.id + "x"})
    assert KEYS.verify(wire(renamed)) is not None


def test_another_key_does_not_verify() -> None:
    event = ReportKeys(b"another key, 32 bytes long......").sign(sample(EventKind.STEP_FAILED))
    assert KEYS.verify(wire(event)) is not None


@pytest.mark.parametrize("kind", [k for k in EventKind if not k.is_step])
def test_run_events_need_no_signature(kind: EventKind) -> None:
    event = sample(kind)
    assert KEYS.verify(event) is None
    assert KEYS.sign(event).auth is None


def test_tokens_are_stable_and_distinct() -> None:
    assert KEYS.attempt_token("r", "s", 1) == ReportKeys(b"k" * 32).attempt_token("r", "s", 1)
    assert KEYS.attempt_token("r", "s", 1) != KEYS.attempt_token("r", "s", 2)
    # No ambiguity from joining names.
    assert KEYS.attempt_token("r", "s\x001", 2) != KEYS.attempt_token("r\x00s", "1", 2)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ReportKeys(b"short")


def test_signature_covers_data_id_and_names() -> None:
    event = sample(EventKind.STEP_SUCCEEDED)
    base = signature(event, "t")
    assert signature(event.model_copy(update={"run_id": "r2"}), "t") != base
    assert signature(event.model_copy(update={"step": "other"}), "t") != base
    assert signature(event, "u") != base


def test_a_forgery_under_the_real_id_cannot_take_the_real_reports_dedup_slot() -> None:
    real = KEYS.sign(sample(EventKind.STEP_SUCCEEDED))
    _, real_headers = encode(real)
    _, forged_headers = encode(sample(EventKind.STEP_SUCCEEDED))  # unsigned, same event id
    assert forged_headers[MSG_ID_HEADER] == real.id
    assert real_headers[MSG_ID_HEADER] != real.id
    assert real_headers[MSG_ID_HEADER].startswith(real.id + "~")
    # A re-publish of the real report is still a duplicate of itself.
    assert encode(real)[1][MSG_ID_HEADER] == real_headers[MSG_ID_HEADER] == msg_id(real)
