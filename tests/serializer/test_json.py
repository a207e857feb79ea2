"""The JSON serializer."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicewire import InvalidField, InvalidMessage
from servicewire.serializer import JSONSerializer

serializer = JSONSerializer()


def test_round_trip() -> None:
    message = {"a": [1, 2.5, None, True], "b": {"c": "héllo"}}
    assert serializer.blob_to_dict(serializer.dict_to_blob(message)) == message


def test_output_is_utf8_json_text() -> None:
    assert serializer.dict_to_blob({"name": "é"}) == '{"name":"é"}'.encode()


def test_the_mime_type() -> None:
    assert JSONSerializer.mime_type == "application/json"


@pytest.mark.parametrize(
    ("value", "path"),
    [({"when": datetime.date(2024, 1, 1)}, "when"), ({"a": [b"bytes"]}, "a.0")],
)
def test_values_json_cannot_carry_raise_invalid_field(value: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidField, match=f"at {path}:"):
        serializer.dict_to_blob(value)


@pytest.mark.parametrize("blob", [b"", b"{", b"[1, 2]", b'"text"', b"\xff\xfe", b"null"])
def test_malformed_or_non_object_json_raises_invalid_message(blob: bytes) -> None:
    with pytest.raises(InvalidMessage):
        serializer.blob_to_dict(blob)


@given(st.binary(max_size=64))
def test_any_bytes_give_a_dict_or_invalid_message(blob: bytes) -> None:
    try:
        result = serializer.blob_to_dict(blob)
    except InvalidMessage:
        return
    assert isinstance(result, dict)
