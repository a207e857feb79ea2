"""The protocol core: payloads, size limits, reply identities, fan-out outcomes."""

from __future__ import annotations

import datetime
import decimal
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicewire.errors import InvalidField, InvalidMessage, MessageTooLarge
from servicewire.transport.sql.envelope import (
    caller_key,
    decode_payload,
    encode_payload,
    job_outcome,
    reply_identity,
)

LIMITS = {"maximum_size": 10_000, "log_larger_than": 5_000, "description": "request 1 to 'x'"}


def test_payload_round_trips_meta_body_and_extension_types() -> None:
    body = {
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
        "utc": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2024, 5, 6),
        "price": decimal.Decimal("-12.345"),
        "raw": b"\x00\xff",
    }
    meta = {"reply_to": "abc!1", "client_version": [1, 4, 9]}

    assert decode_payload(encode_payload(meta, body, **LIMITS)) == (meta, body)


def test_payload_over_the_maximum_raises_message_too_large_with_its_size() -> None:
    with pytest.raises(MessageTooLarge) as raised:
        encode_payload({}, {"blob": "x" * 20_000}, **LIMITS)

    assert raised.value.message_size_in_bytes > 20_000
    assert "maximum_message_size_in_bytes" in str(raised.value)
    assert "request 1 to 'x'" in str(raised.value)


def test_payload_over_the_log_threshold_is_logged_censored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "servicewire.transport.oversized_message"):
        encode_payload({}, {"blob": "x" * 6_000, "password": "hunter2"}, **LIMITS)

    (record,) = caplog.records
    assert "request 1 to 'x'" in record.getMessage()
    assert "hunter2" not in record.getMessage()


def test_log_threshold_zero_never_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "servicewire.transport.oversized_message"):
        encode_payload({}, {"blob": "x" * 6_000}, **{**LIMITS, "log_larger_than": 0})

    assert caplog.records == []


def test_unserializable_value_raises_invalid_field() -> None:
    with pytest.raises(InvalidField):
        encode_payload({}, {"thing": object()}, **LIMITS)


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xc1", b"\x93\x01\x02\x03", b"\x81\xa4meta\x01", b"\x82\xa4meta\x80\xa4body\x01"],
)
def test_anything_but_a_message_is_invalid_message(payload: bytes) -> None:
    with pytest.raises(InvalidMessage):
        decode_payload(payload)


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_message_or_invalid_message(payload: bytes) -> None:
    try:
        meta, body = decode_payload(payload)
    except InvalidMessage:
        return
    assert isinstance(meta, dict)
    assert isinstance(body, dict)


def test_reply_identity_names_the_client_and_its_thread() -> None:
    identity = reply_identity("c0ffee", "7f3a")

    assert identity == "c0ffee!7f3a"
    assert caller_key(identity) == "c0ffee"


def _error(code: str, is_caller_error: bool) -> dict[str, object]:
    return {"code": code, "message": "m", "field": None, "is_caller_error": is_caller_error}


def test_job_without_errors_succeeded() -> None:
    response = {"errors": [], "actions": [{"action": "a", "errors": [], "body": {}}]}

    assert job_outcome(response) == ("succeeded", None)
    assert job_outcome(None) == ("succeeded", None)


def test_job_with_a_server_side_error_failed() -> None:
    response = {
        "errors": [],
        "actions": [{"action": "a", "errors": [_error("SERVER_ERROR", False)], "body": {}}],
    }

    outcome, error = job_outcome(response)

    assert outcome == "failed"
    assert error is not None
    assert error.startswith("SERVER_ERROR")


def test_job_with_only_caller_errors_is_rejected() -> None:
    response = {"errors": [_error("INVALID", True)], "actions": []}

    assert job_outcome(response)[0] == "rejected"
