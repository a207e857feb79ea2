"""The canonical encoding: one byte string per value, whatever a transport did to it."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicewire._signing import (
    SIGNATURE_KEY,
    canonical_bytes,
    signature_mac,
    signed_content,
)
from servicewire.serializer import JSONSerializer, MsgpackSerializer
from servicewire.serializer.msgpack import CurrencyAmount


def plain_values(allow_nan: bool) -> st.SearchStrategy[Any]:
    """What both serializers carry: scalars, lists and maps with string keys."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text()
        | st.floats(allow_nan=allow_nan)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=20,
    )


@given(plain_values(allow_nan=True))
def test_a_msgpack_round_trip_keeps_the_encoding(value: Any) -> None:
    serializer = MsgpackSerializer()
    copy = serializer.blob_to_dict(serializer.dict_to_blob({"value": value}))["value"]
    assert canonical_bytes(copy) == canonical_bytes(value)


@given(plain_values(allow_nan=False))
def test_a_json_round_trip_keeps_the_encoding(value: Any) -> None:
    serializer = JSONSerializer()
    copy = serializer.blob_to_dict(serializer.dict_to_blob({"value": value}))["value"]
    assert canonical_bytes(copy) == canonical_bytes(value)


def test_map_order_does_not_matter() -> None:
    assert canonical_bytes({"a": 1, "b": [1, 2]}) == canonical_bytes({"b": [1, 2], "a": 1})


def test_tuples_and_integer_keys_encode_as_json_would_carry_them() -> None:
    assert canonical_bytes((1, 2)) == canonical_bytes([1, 2])
    assert canonical_bytes({1: "x"}) == canonical_bytes({"1": "x"})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (1, 1.0),
        (1, True),
        (0, None),
        ("1", 1),
        ([], {}),
        ([["d", []]], [{}]),
        (b"ab", "6162"),
        ({"a": [1]}, {"a": 1}),
        (datetime.date(2024, 1, 2), "2024-01-02"),
    ],
)
def test_values_a_transport_keeps_apart_encode_apart(first: Any, second: Any) -> None:
    assert canonical_bytes(first) != canonical_bytes(second)


def test_extension_types_encode_by_their_wire_form() -> None:
    aware = datetime.datetime(
        2024, 1, 2, 5, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    utc = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert canonical_bytes(aware) == canonical_bytes(utc)
    serializer = MsgpackSerializer()
    values = {
        "amount": CurrencyAmount("USD", 1234),
        "price": decimal.Decimal("9.99"),
        "day": datetime.date(2024, 5, 6),
        "at": datetime.time(7, 8, 9, 10),
        "when": aware,
    }
    copy = serializer.blob_to_dict(serializer.dict_to_blob(values))
    assert canonical_bytes(copy) == canonical_bytes(values)


def test_ambiguous_or_unsupported_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        canonical_bytes({1: "a", "1": "b"})
    with pytest.raises(ValueError, match="float has no canonical form"):
        canonical_bytes({1.5: "a"})


def test_values_no_transport_carries_are_refused() -> None:
    with pytest.raises(TypeError, match="object has no canonical form"):
        canonical_bytes({"x": object()})


def test_signed_content_leaves_out_the_mac_and_what_transports_rewrite() -> None:
    actions = [("echo", {"x": 1})]
    signature = {"key_id": "k", "timestamp": 1, "nonce": "n", "mac": "first"}
    context = {"correlation_id": "c", SIGNATURE_KEY: signature}
    content = signed_content(actions, context, {"suppress_response": False}, signature)

    resigned = {**signature, "mac": "second"}
    assert content == signed_content(
        actions, {**context, SIGNATURE_KEY: resigned}, {"suppress_response": True}, resigned
    )
    assert content != signed_content(
        actions, context, {"suppress_response": False, "continue_on_error": True}, signature
    )
    assert content != signed_content([("echo", {"x": 2})], context, {}, signature)
    assert content != signed_content(actions, context, {}, {**signature, "nonce": "m"})


def test_a_missing_body_signs_as_an_empty_one() -> None:
    signature = {"key_id": "k"}
    assert signed_content([("a", None)], {}, {}, signature) == signed_content(
        [("a", {})], {}, {}, signature
    )


def test_the_mac_depends_on_the_secret() -> None:
    assert signature_mac(b"one secret", b"content") != signature_mac(b"another secret", b"content")
    assert len(signature_mac(b"one secret", b"content")) == 64
