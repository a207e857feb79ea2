"""The Redis gateway protocol without I/O: framing, envelopes, chunks, expiry and routing."""

from __future__ import annotations

import datetime
import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicewire.errors import InvalidMessageError
from servicewire.serializer import JSONSerializer, MsgpackSerializer
from servicewire.transport.redis.protocol import (
    ChunkAssembler,
    Frame,
    InvalidFrame,
    MessageReader,
    ProtocolVersion,
    RequestMeta,
    UnsupportedProtocolVersion,
    build_frame,
    decode_envelope,
    encode_envelope,
    is_expired,
    parse_frame,
    queue_key,
    read_message,
    reply_host_index,
    reply_queue_name,
    reply_queue_problem,
    request_queue_name,
    split_into_chunks,
)

MSGPACK = MsgpackSerializer()
JSON = JSONSerializer()
V1, V2, V3 = ProtocolVersion.VERSION_1, ProtocolVersion.VERSION_2, ProtocolVersion.VERSION_3


def envelope_bytes(request_id: object = 7, meta: object = None, body: object = None) -> bytes:
    message: dict[str, object] = {"request_id": request_id, "meta": meta or {}, "body": body}
    return msgpack.packb(message, use_bin_type=True)


# --- queue names and hosts ------------------------------------------------------------------


def test_request_queue_key_is_the_service_name_with_pysoa_prefix() -> None:
    assert queue_key(request_queue_name("example")) == "pysoa:service.example"


def test_reply_queue_name_ends_with_twelve_hex_digits_after_the_bang() -> None:
    name = reply_queue_name("example", "4a8e3b1d", 26)
    assert name == "service.example.4a8e3b1d!00000000001a"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # Values computed with PySOA 1.4.9's own implementation.
        ("pysoa:service.example.4a8e3b1d!000000000001", [0, 1, 1, 2]),
        ("pysoa:service.a!1", [0, 1, 2, 3]),
        ("pysoa:service.echo.deadbeef!00000000000a", [0, 1, 2, 4]),
    ],
)
def test_reply_host_is_pysoas_consistent_hash(key: str, expected: list[int]) -> None:
    assert [reply_host_index(key, count) for count in (1, 2, 3, 5)] == expected


# --- framing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "serializer", "prefix"),
    [
        (V3, MSGPACK, b"pysoa-redis/3//content-type:application/msgpack;"),
        (V3, JSON, b"pysoa-redis/3//content-type:application/json;"),
        (V2, MSGPACK, b"content-type:application/msgpack;"),
        (V2, JSON, b"content-type:application/json;"),
        (V1, MSGPACK, b""),
    ],
)
def test_build_frame_writes_each_versions_header(
    version: ProtocolVersion, serializer: MsgpackSerializer, prefix: bytes
) -> None:
    payload = encode_envelope(3, {"a": 1}, {"b": 2}, serializer)
    frame = build_frame(payload, version, serializer.mime_type)
    assert frame == prefix + payload
    parsed = parse_frame(frame)
    assert parsed.version is version
    assert parsed.payload == payload
    assert parsed.content_type == (None if version is V1 else serializer.mime_type)


def test_parse_frame_detects_version_one_when_nothing_else_matches() -> None:
    assert parse_frame(b"\x81\xa1a\x01") == Frame(V1, b"\x81\xa1a\x01")


def test_parse_frame_keeps_whitespace_after_the_last_header_as_payload() -> None:
    frame = parse_frame(b"pysoa-redis/3//content-type:application/json;  {}")
    assert frame.payload == b"  {}"


def test_parse_frame_accepts_whitespace_around_header_parts() -> None:
    frame = parse_frame(
        b"pysoa-redis/3// content-type : application/json ; chunk-count:2;chunk-id:1;x"
    )
    assert (frame.content_type, frame.chunk_count, frame.chunk_id, frame.payload) == (
        "application/json",
        2,
        1,
        b"x",
    )


def test_parse_frame_rejects_unknown_version_but_keeps_the_rest_readable() -> None:
    payload = envelope_bytes(5, {"reply_to": "service.x.y!000000000001"})
    with pytest.raises(UnsupportedProtocolVersion) as caught:
        parse_frame(b"pysoa-redis/9//content-type:application/msgpack;" + payload)
    assert caught.value.version == 9
    assert caught.value.frame.payload == payload
    assert isinstance(caught.value, InvalidMessageError)


@pytest.mark.parametrize(
    "data",
    [
        b"pysoa-redis/3//chunk-count:x;chunk-id:1;{}",
        b"pysoa-redis/3//chunk-count:0;chunk-id:1;{}",
        b"pysoa-redis/3//chunk-count:2;{}",
        b"pysoa-redis/3//chunk-id:1;{}",
        b"pysoa-redis/3//chunk-count:2;chunk-id:3;{}",
        b"content-type:application/json;chunk-count:2;chunk-id:1;{}",
    ],
)
def test_parse_frame_rejects_malformed_chunk_headers(data: bytes) -> None:
    with pytest.raises(InvalidFrame):
        parse_frame(data)


# --- chunks ---------------------------------------------------------------------------------


def test_split_into_chunks_numbers_ceil_size_over_threshold_slices_from_one() -> None:
    payload = bytes(range(256)) * 10
    chunks = split_into_chunks(payload, "application/msgpack", 1000)
    assert len(chunks) == math.ceil(len(payload) / 1000)
    assert chunks[0].startswith(
        b"pysoa-redis/3//content-type:application/msgpack;chunk-count:3;chunk-id:1;"
    )
    assert chunks[2].startswith(
        b"pysoa-redis/3//content-type:application/msgpack;chunk-count:3;chunk-id:3;"
    )
    frames = [parse_frame(chunk) for chunk in chunks]
    assembler = ChunkAssembler(frames[0])
    for frame in frames[1:]:
        assembler.add(frame)
    assert assembler.complete
    assert assembler.payload == payload


def test_chunk_assembler_rejects_chunks_out_of_order() -> None:
    chunks = [parse_frame(c) for c in split_into_chunks(b"x" * 30, "application/json", 10)]
    assembler = ChunkAssembler(chunks[0])
    with pytest.raises(InvalidFrame, match="Expected chunk 2 of 3, got chunk 3 of 3"):
        assembler.add(chunks[2])


def test_chunk_assembler_rejects_a_message_starting_past_chunk_one() -> None:
    chunks = [parse_frame(c) for c in split_into_chunks(b"x" * 30, "application/json", 10)]
    with pytest.raises(InvalidFrame, match="started with chunk 2"):
        ChunkAssembler(chunks[1])


def test_chunk_assembler_rejects_an_unchunked_frame_in_the_middle() -> None:
    chunks = [parse_frame(c) for c in split_into_chunks(b"x" * 30, "application/json", 10)]
    assembler = ChunkAssembler(chunks[0])
    with pytest.raises(InvalidFrame, match="interleaved"):
        assembler.add(parse_frame(b"{}"))


def test_message_reader_joins_chunks_into_one_envelope() -> None:
    payload = encode_envelope(9, {"m": 1}, {"data": "y" * 5000}, JSON)
    reader = MessageReader(MSGPACK)
    chunks = split_into_chunks(payload, JSON.mime_type, 1000)
    results = [reader.feed(chunk) for chunk in chunks]
    assert results[:-1] == [None] * (len(chunks) - 1)
    envelope = results[-1]
    assert envelope is not None
    assert (envelope.request_id, envelope.meta, envelope.body) == (
        9,
        {"m": 1},
        {"data": "y" * 5000},
    )


def test_message_reader_reports_which_chunk_never_came() -> None:
    reader = MessageReader(MSGPACK)
    reader.feed(split_into_chunks(b"z" * 30, "application/json", 10)[0])
    assert "chunk 2 of 3" in str(reader.incomplete())


# --- envelopes ------------------------------------------------------------------------------


def test_decode_envelope_returns_request_id_meta_and_body() -> None:
    envelope = decode_envelope(envelope_bytes(42, {"reply_to": "q"}, {"x": 1}), MSGPACK)
    assert (envelope.request_id, envelope.meta, envelope.body) == (42, {"reply_to": "q"}, {"x": 1})


def test_decode_envelope_without_meta_gives_an_empty_meta() -> None:
    payload = msgpack.packb({"request_id": 1, "body": {}})
    assert decode_envelope(payload, MSGPACK).meta == {}


def test_decode_envelope_without_request_id_keeps_the_meta_in_the_error() -> None:
    payload = msgpack.packb({"meta": {"reply_to": "q"}, "body": {}})
    with pytest.raises(InvalidMessageError, match="no request_id") as caught:
        decode_envelope(payload, MSGPACK)
    assert caught.value.meta == {"reply_to": "q"}
    assert caught.value.request_id is None


@pytest.mark.parametrize("request_id", ["7", 7.5, True, [7]])
def test_decode_envelope_rejects_a_request_id_that_is_not_an_integer(request_id: object) -> None:
    with pytest.raises(InvalidMessageError, match="must be an integer"):
        decode_envelope(envelope_bytes(request_id), MSGPACK)


def test_decode_envelope_rejects_undecodable_payloads() -> None:
    with pytest.raises(InvalidMessageError, match="Undecodable"):
        decode_envelope(b"\xc1\xc1", MSGPACK)


def test_decode_envelope_rejects_meta_that_is_not_a_dict() -> None:
    with pytest.raises(InvalidMessageError, match="meta must be a dict") as caught:
        decode_envelope(envelope_bytes(3, ["x"]), MSGPACK)
    assert caught.value.request_id == 3


def test_decode_envelope_accepts_integer_map_keys_from_old_peers() -> None:
    payload = msgpack.packb({"request_id": 1, "meta": {}, "body": {1: "one"}})
    assert decode_envelope(payload, MSGPACK).body == {1: "one"}


def test_read_message_uses_the_frames_content_type() -> None:
    payload = encode_envelope(1, {}, {"when": "now"}, JSON)
    frame, envelope = read_message(build_frame(payload, V2, JSON.mime_type), MSGPACK)
    assert frame.version is V2
    assert envelope.body == {"when": "now"}


def test_read_message_falls_back_to_the_default_serializer_for_unknown_types() -> None:
    payload = encode_envelope(1, {}, {"a": 1}, MSGPACK)
    _, envelope = read_message(b"content-type:application/x-unknown;" + payload, MSGPACK)
    assert envelope.body == {"a": 1}


def test_read_message_rejects_a_chunk() -> None:
    chunk = split_into_chunks(envelope_bytes(), "application/msgpack", 5)[0]
    with pytest.raises(InvalidFrame, match="Unexpected chunk 1"):
        read_message(chunk, MSGPACK)


def test_request_meta_carries_framing_but_serializes_as_a_plain_dict() -> None:
    meta = RequestMeta({"reply_to": "q"}, V2, JSON)
    assert (meta.protocol_version, meta.serializer) == (V2, JSON)
    round_trip = decode_envelope(encode_envelope(1, meta, {}, MSGPACK), MSGPACK).meta
    assert round_trip == {"reply_to": "q"}
    assert type(round_trip) is dict


def test_envelopes_carry_extension_types() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)
    payload = encode_envelope(1, {}, {"when": when}, MSGPACK)
    assert decode_envelope(payload, MSGPACK).body == {"when": when}


# --- expiry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expiry", "expired"),
    [(99.0, True), (100.0, False), (101, False), (0, False), (None, False), ("99", False)],
)
def test_is_expired_compares_the_expiry_with_now(expiry: object, expired: bool) -> None:
    meta = {} if expiry is None else {"__expiry__": expiry}
    assert is_expired(meta, 100.0) is expired


def test_is_expired_ignores_booleans() -> None:
    assert is_expired({"__expiry__": True}, 100.0) is False


# --- any input: a message or a typed error --------------------------------------------------

_headers = st.sampled_from(
    [
        b"",
        b"pysoa-redis/3//",
        b"pysoa-redis/2//",
        b"pysoa-redis/12//",
        b"content-type:application/msgpack;",
        b"content-type:application/json;",
        b"pysoa-redis/3//content-type:application/msgpack;",
        b"pysoa-redis/3//content-type:application/json;chunk-count:2;chunk-id:1;",
        b"chunk-count:1;chunk-id:1;",
    ]
)


@settings(max_examples=400, deadline=None)
@given(header=_headers, payload=st.binary(max_size=200))
def test_any_bytes_give_a_message_or_a_typed_error(header: bytes, payload: bytes) -> None:
    try:
        _, envelope = read_message(header + payload, MSGPACK)
    except InvalidMessageError:
        return
    assert type(envelope.request_id) is int
    assert isinstance(envelope.meta, dict)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(_headers, st.binary(max_size=40)), min_size=1, max_size=5))
def test_any_sequence_of_items_gives_a_message_or_a_typed_error(
    items: list[tuple[bytes, bytes]],
) -> None:
    reader = MessageReader(JSON)
    try:
        for header, payload in items:
            if reader.feed(header + payload) is not None:
                return
    except InvalidMessageError:
        return


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    request_id=st.integers(0, 2**62),
    body=st.dictionaries(st.text(max_size=10), _json_values, max_size=5),
    version=st.sampled_from([V1, V2, V3]),
    serializer=st.sampled_from([MSGPACK, JSON]),
    chunk_size=st.integers(1, 64),
)
def test_framed_and_chunked_messages_read_back_unchanged(
    request_id: int,
    body: dict[str, object],
    version: ProtocolVersion,
    serializer: MsgpackSerializer,
    chunk_size: int,
) -> None:
    payload = encode_envelope(request_id, {"k": "v"}, body, serializer)
    default = serializer if version is V1 else MSGPACK
    _, whole = read_message(build_frame(payload, version, serializer.mime_type), default)
    reader = MessageReader(MSGPACK)
    envelopes = [
        reader.feed(chunk) for chunk in split_into_chunks(payload, serializer.mime_type, chunk_size)
    ]
    assert whole == envelopes[-1]
    assert (whole.request_id, whole.meta, whole.body) == (request_id, {"k": "v"}, body)


# --- reply queues -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply_to",
    [reply_queue_name("echo", "c1", 1), "service.echo.0123abcd!00000000000a"],
)
def test_reply_queue_names_are_accepted(reply_to: str) -> None:
    assert reply_queue_problem(reply_to) is None


@pytest.mark.parametrize(
    ("reply_to", "problem"),
    [
        (None, "must be a string"),
        (7, "must be a string"),
        ("", "empty"),
        ("service.echo!" + "x" * 600, "at most 512"),
        ("other.echo!1", "outside the transport's queues"),
        ("service.echo", "not a reply queue"),
    ],
)
def test_anything_but_a_reply_queue_is_refused_with_its_reason(
    reply_to: object, problem: str
) -> None:
    found = reply_queue_problem(reply_to)
    assert found is not None
    assert problem in found


@given(st.text(max_size=600) | st.integers() | st.none() | st.binary())
def test_a_refused_reply_to_is_never_a_request_queue(reply_to: object) -> None:
    if reply_queue_problem(reply_to) is None:
        assert isinstance(reply_to, str)
        assert reply_to.startswith("service.")
        assert "!" in reply_to
