"""The msgpack serializer: extension types (with the protocol's test vectors), limits of the
format, and malformed input."""

from __future__ import annotations

import datetime
import decimal
import sys
import threading
from typing import Any

import currint
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicewire import InvalidField, InvalidMessage
from servicewire.serializer import CurrencyAmount, MsgpackSerializer
from servicewire.serializer import msgpack as msgpack_module

UTC = datetime.timezone.utc
serializer = MsgpackSerializer()


def pack_value(value: Any) -> bytes:
    """The bytes of ``value`` alone inside a serialized ``{"v": value}`` message."""
    blob = serializer.dict_to_blob({"v": value})
    prefix = msgpack.packb({"v": None})[:-1]  # fixmap header + "v", without the nil
    assert blob.startswith(prefix)
    return blob[len(prefix) :]


@pytest.mark.parametrize(
    ("value", "expected_hex"),
    [
        (datetime.datetime(2024, 1, 2, 3, 4, 5, 678901), "d70100060dedc0582f35"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "d70a00060dedc04dd340"),
        (CurrencyAmount("USD", 1234), "c70b0255534400000000000004d2"),
        (datetime.date(2024, 5, 6), "d60307e80506"),
        (datetime.time(7, 8, 9, 10), "c707040708090000000a"),
        (decimal.Decimal("-12.345"), "c7090500072d31322e333435"),
    ],
)
def test_extension_types_match_the_protocol_test_vectors(value: Any, expected_hex: str) -> None:
    assert pack_value(value).hex() == expected_hex


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
        datetime.datetime(1969, 7, 20, 20, 17, 40, 1),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime.datetime(1, 1, 1),
        datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime.date(2024, 5, 6),
        datetime.time(7, 8, 9, 10),
        datetime.time(23, 59, 59, 999999),
        decimal.Decimal("-12.345"),
        decimal.Decimal("1E+30"),
        decimal.Decimal("0.000000000000000000000001"),
    ],
)
def test_extension_types_round_trip_exactly(value: Any) -> None:
    assert serializer.blob_to_dict(serializer.dict_to_blob({"v": value})) == {"v": value}


def test_datetimes_keep_microsecond_precision_far_from_the_epoch() -> None:
    value = datetime.datetime(2262, 4, 11, 23, 47, 16, 854775)
    decoded = serializer.blob_to_dict(serializer.dict_to_blob({"v": value}))["v"]
    assert decoded == value
    assert decoded.microsecond == 854775


def test_aware_datetimes_in_other_zones_travel_as_the_same_instant_in_utc() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=2))
    value = datetime.datetime(2024, 6, 1, 14, 0, tzinfo=paris)
    decoded = serializer.blob_to_dict(serializer.dict_to_blob({"v": value}))["v"]
    assert decoded == value
    assert decoded.utcoffset() == datetime.timedelta(0)
    assert decoded.hour == 12


def test_currency_amounts_decode_to_currint_when_it_is_installed() -> None:
    decoded = serializer.blob_to_dict(serializer.dict_to_blob({"v": CurrencyAmount("EUR", 995)}))
    assert decoded["v"] == currint.Amount.from_code_and_minor("EUR", 995)


def test_currint_amounts_encode_like_currency_amounts() -> None:
    amount = currint.Amount.from_code_and_minor("USD", 1234)
    assert pack_value(amount) == pack_value(CurrencyAmount("USD", 1234))


def test_currency_amounts_decode_without_currint(monkeypatch: pytest.MonkeyPatch) -> None:
    from servicewire.serializer import msgpack as module

    monkeypatch.setattr(module, "_currint", None)
    decoded = serializer.blob_to_dict(serializer.dict_to_blob({"v": CurrencyAmount("JPY", 5)}))
    assert decoded["v"] == CurrencyAmount("JPY", 5)


def test_integer_map_keys_are_accepted() -> None:
    blob = msgpack.packb({"counts": {1: "a", 2: "b"}})
    assert serializer.blob_to_dict(blob) == {"counts": {1: "a", 2: "b"}}


def test_binary_and_text_stay_distinct() -> None:
    message = {"text": "héllo", "data": b"\x00\xff"}
    assert serializer.blob_to_dict(serializer.dict_to_blob(message)) == message


def test_lone_surrogates_survive() -> None:
    message = {"text": "a\udc80b"}
    assert serializer.blob_to_dict(serializer.dict_to_blob(message)) == message


def test_unknown_extension_types_are_kept_as_ext_values() -> None:
    blob = msgpack.packb({"v": msgpack.ExtType(42, b"xyz")})
    assert serializer.blob_to_dict(blob) == {"v": msgpack.ExtType(42, b"xyz")}


def test_the_mime_type() -> None:
    assert MsgpackSerializer.mime_type == "application/msgpack"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": {"b": [1, object()]}}, "a.b.1"),
        ({"a": {1, 2}}, "a"),
        ({"a": 2**70}, "a"),
        ({"when": datetime.time(1, 2, tzinfo=UTC)}, "when"),
    ],
)
def test_an_unserializable_value_raises_invalid_field_naming_its_path(
    value: dict[str, Any], path: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        serializer.dict_to_blob(value)
    assert f"at {path}:" in str(caught.value)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\xc1",
        b"\x93\x01\x02\x03",
        b"\xa3abc",
        b"\x81\xa1v\xd7\x01\x00",
        b"\x81\xa1v\xc7\x03\x01abc",
        b"\x81\xa1v\xc7\x04\x05\x00\x09ab",
        b"\x81\xa1v\xd6\x03\x07\xe8\x0d\x01",
        b"\x81\xa1v\xc7\x03\x02USD",
    ],
)
def test_malformed_bytes_raise_invalid_message(blob: bytes) -> None:
    with pytest.raises(InvalidMessage):
        serializer.blob_to_dict(blob)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_plain_values_round_trip(message: dict[str, Any]) -> None:
    assert serializer.blob_to_dict(serializer.dict_to_blob(message)) == message


@given(st.binary(max_size=64))
def test_any_bytes_give_a_dict_or_invalid_message(blob: bytes) -> None:
    try:
        result = serializer.blob_to_dict(blob)
    except InvalidMessage:
        return
    assert isinstance(result, dict)


# --- the packer each thread keeps -----------------------------------------------------------


def test_a_message_that_failed_to_pack_leaves_nothing_in_the_next() -> None:
    serializer = MsgpackSerializer()
    with pytest.raises(InvalidField):
        serializer.dict_to_blob({"first": [1, 2, object()]})
    assert serializer.dict_to_blob({"next": 1}) == msgpack.packb({"next": 1}, use_bin_type=True)


def test_threads_packing_at_once_each_get_their_own_messages() -> None:
    serializer = MsgpackSerializer()
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9)
    problems: list[str] = []

    def pack_many(number: int) -> None:
        for index in range(300):
            # Each datetime calls back into Python mid-message, where threads switch.
            message = {"thread": number, "index": index, "at": [moment] * 5}
            try:
                if serializer.blob_to_dict(serializer.dict_to_blob(message)) != message:
                    problems.append(f"thread {number}, message {index}: another message")
            except InvalidMessage as error:
                problems.append(f"thread {number}, message {index}: {error}")

    threads = [threading.Thread(target=pack_many, args=(number,)) for number in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert problems == []


def test_a_large_message_does_not_leave_its_buffer_behind() -> None:
    serializer = MsgpackSerializer()
    serializer.dict_to_blob({"small": 1})
    kept = msgpack_module._packers.packer
    serializer.dict_to_blob({"small": 2})
    assert msgpack_module._packers.packer is kept
    large = serializer.dict_to_blob({"large": "x" * 1_000_000})
    assert serializer.blob_to_dict(large) == {"large": "x" * 1_000_000}
    assert msgpack_module._packers.packer is not kept
