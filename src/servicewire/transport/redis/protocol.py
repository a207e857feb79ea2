"""The Redis gateway protocol of PySOA 1.x, without I/O.

Everything here is a function over bytes and dicts, so that it can be tested (and fuzzed)
without a Redis server: queue names, the framing of the three protocol versions and their
headers, the message envelope, chunk splitting and assembly, expiry, and the choice of a
host among several.

A message on a queue is a *frame*: an optional version marker (``pysoa-redis/3//``), optional
headers (``content-type:application/msgpack;``, ``chunk-count:2;``, ``chunk-id:1;``) and a
payload, the serialized *envelope* ``{"request_id": ..., "meta": {...}, "body": {...}}``.
Anything that is not a well-formed message raises :class:`InvalidFrame` or
:class:`~servicewire.errors.InvalidMessageError` (its base), carrying the request id and meta
when they could be read.
"""

from __future__ import annotations

import enum
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from servicewire.errors import InvalidMessage, InvalidMessageError
from servicewire.serializer.base import Serializer

__all__ = [
    "EXPIRY_META_KEY",
    "MAXIMUM_REPLY_QUEUE_NAME_LENGTH",
    "QUEUE_NAME_PREFIX",
    "REPLY_QUEUE_SPECIFIER",
    "ChunkAssembler",
    "Envelope",
    "Frame",
    "InvalidFrame",
    "MessageReader",
    "ProtocolVersion",
    "RequestMeta",
    "UnsupportedProtocolVersion",
    "build_frame",
    "decode_envelope",
    "encode_envelope",
    "is_expired",
    "parse_frame",
    "queue_key",
    "read_message",
    "reply_host_index",
    "reply_queue_name",
    "reply_queue_problem",
    "request_queue_name",
    "resolve_content_type",
    "split_into_chunks",
]

QUEUE_NAME_PREFIX = "pysoa:"
"""Prefix of every queue key; ``meta["reply_to"]`` carries reply queue names without it."""
REPLY_QUEUE_SPECIFIER = "!"
"""Marks a queue name as a reply queue (routed by consistent hash among several hosts)."""
EXPIRY_META_KEY = "__expiry__"
"""The meta key holding a message's expiry time (epoch seconds)."""


class ProtocolVersion(enum.IntEnum):
    """The framing versions: 1 (bare msgpack), 2 (content-type header), 3 (version marker,
    and chunked responses)."""

    VERSION_1 = 1
    VERSION_2 = 2
    VERSION_3 = 3

    @property
    def prefix(self) -> bytes:
        """The version marker this version puts before the headers (empty below 3)."""
        return b"pysoa-redis/%d//" % self.value if self.value >= 3 else b""


class InvalidFrame(InvalidMessageError):
    """Bytes that are not a frame of the protocol (bad headers, inconsistent chunks)."""


class UnsupportedProtocolVersion(InvalidFrame):
    """A frame declares a protocol version this implementation does not speak.

    ``frame`` is the rest of the message read as if it were version 3, so that a server can
    still try to find out whom to answer.
    """

    def __init__(self, version: int, frame: Frame) -> None:
        super().__init__(f"Unsupported protocol version {version} (supported: 1, 2, 3)")
        self.version = version
        self.frame = frame


class RequestMeta(dict[str, Any]):
    """The meta dict of a received request, remembering the framing it arrived in.

    A server answers in the protocol version and serializer of the request it answers; they
    travel with the meta (as attributes, never serialized) from ``receive_request_message``
    to ``send_response_message``.
    """

    __slots__ = ("delivered", "protocol_version", "serializer")

    delivered: tuple[int, bytes]
    """Under at-least-once delivery only: the host the request was taken from and its bytes
    (to remove it from the server's processing list once finished)."""

    def __init__(
        self,
        items: dict[str, Any],
        protocol_version: ProtocolVersion,
        serializer: Serializer,
    ) -> None:
        super().__init__(items)
        self.protocol_version = protocol_version
        self.serializer = serializer


# --- queues and hosts ---------------------------------------------------------------------


def request_queue_name(service_name: str) -> str:
    """The name of a service's request queue (without the key prefix)."""
    return "service." + service_name


def reply_queue_name(service_name: str, client_id: str, receiver_number: int) -> str:
    """The name of one receiver's reply queue: a client id and a per-thread (or per-task)
    number, as PySOA names them with the thread ident."""
    return f"service.{service_name}.{client_id}{REPLY_QUEUE_SPECIFIER}{receiver_number:012x}"


MAXIMUM_REPLY_QUEUE_NAME_LENGTH = 512
"""The longest ``reply_to`` a server answers (PySOA's names are under 100 characters plus the
service name)."""
_REQUEST_QUEUE_PREFIX = "service."


def reply_queue_problem(reply_to: object) -> str | None:
    """Why ``reply_to`` is not a queue a server may answer into, or ``None`` if it is one.

    A reply queue is named ``service.<service>.<client>!<receiver>``: inside the transport's
    names, with the reply-queue marker ``!``, which no request queue has. Answering into
    anything else could feed a reply to a server as a request (a request naming its own
    service's queue would make that server answer itself forever), or write to keys the
    transport does not own.
    """
    if not isinstance(reply_to, str):
        return f"reply_to must be a string, not {type(reply_to).__name__}"
    if not reply_to:
        return "reply_to is empty"
    if len(reply_to) > MAXIMUM_REPLY_QUEUE_NAME_LENGTH:
        return (
            f"reply_to is {len(reply_to)} characters long (at most "
            f"{MAXIMUM_REPLY_QUEUE_NAME_LENGTH})"
        )
    if not reply_to.startswith(_REQUEST_QUEUE_PREFIX):
        return f"reply_to {reply_to[:80]!r} is outside the transport's queues (service.*)"
    if REPLY_QUEUE_SPECIFIER not in reply_to:
        return (
            f"reply_to {reply_to[:80]!r} is not a reply queue (it has no {REPLY_QUEUE_SPECIFIER!r})"
        )
    return None


def queue_key(queue_name: str) -> str:
    """The Redis key of a queue."""
    return QUEUE_NAME_PREFIX + queue_name


def reply_host_index(key: str, host_count: int) -> int:
    """The index of the host holding the reply queue ``key`` among ``host_count`` hosts.

    A consistent hash, so that a server pushes a reply to the host its client reads.
    """
    return int((zlib.crc32(key.encode("utf-8")) & 0xFFF) / (4096.0 / host_count))


# --- frames -------------------------------------------------------------------------------

_VERSION_MARKER = re.compile(rb"pysoa-redis/([0-9]+)//")
_HEADER = re.compile(rb"\s*(content-type|chunk-count|chunk-id)\s*:\s*([a-zA-Z0-9_/.-]+)\s*;")
_MAXIMUM_VERSION_DIGITS = 9


@dataclass(slots=True)
class Frame:
    """One message as found on a queue: its version, headers and payload."""

    version: ProtocolVersion
    payload: bytes
    content_type: str | None = None
    chunk_count: int | None = None
    chunk_id: int | None = None

    @property
    def is_chunk(self) -> bool:
        """Whether this frame is one chunk of a larger message."""
        return self.chunk_count is not None


def _header_int(name: str, value: bytes) -> int:
    if not value.isdigit() or len(value) > _MAXIMUM_VERSION_DIGITS:
        raise InvalidFrame(f"Header {name} must be a positive integer, not {value[:20]!r}")
    number = int(value)
    if number < 1:
        raise InvalidFrame(f"Header {name} must be at least 1, not {number}")
    return number


# The framing of nearly every message: read without regular expressions. A payload never
# starts with whitespace or "c" (a msgpack map, or JSON's "{"), so no header follows these.
_COMMON_HEADERS = tuple(
    (version.prefix + b"content-type:" + mime_type + b";", version, mime_type.decode())
    for version in (ProtocolVersion.VERSION_3, ProtocolVersion.VERSION_2)
    for mime_type in (b"application/msgpack", b"application/json")
)
_HEADER_STARTS = frozenset(b" \t\n\r\x0b\x0cc")


def parse_frame(data: bytes) -> Frame:
    """Read the version marker and headers of a message; the rest is its payload.

    Raises :class:`UnsupportedProtocolVersion` for a version marker other than 1 to 3 and
    :class:`InvalidFrame` for malformed chunk headers.
    """
    for common_header, common_version, common_type in _COMMON_HEADERS:
        if data.startswith(common_header):
            end = len(common_header)
            if len(data) > end and data[end] not in _HEADER_STARTS:
                return Frame(common_version, data[end:], common_type)
            break
    position = 0
    declared_version = None
    marker = _VERSION_MARKER.match(data)
    if marker is not None:
        digits = marker.group(1)
        declared_version = int(digits) if len(digits) <= _MAXIMUM_VERSION_DIGITS else -1
        position = marker.end()
        version = ProtocolVersion.VERSION_3
    elif data.startswith(b"content-type"):
        version = ProtocolVersion.VERSION_2
    else:
        version = ProtocolVersion.VERSION_1

    headers: dict[bytes, bytes] = {}
    header = _HEADER.match(data, position)
    while header is not None:
        headers[header.group(1)] = header.group(2)
        position = header.end()
        header = _HEADER.match(data, position)

    content_type = headers.get(b"content-type")
    count = headers.get(b"chunk-count")
    number = headers.get(b"chunk-id")
    frame = Frame(
        version=version,
        payload=data[position:] if position else data,
        content_type=content_type.decode("ascii") if content_type is not None else None,
        chunk_count=_header_int("chunk-count", count) if count is not None else None,
        chunk_id=_header_int("chunk-id", number) if number is not None else None,
    )
    if declared_version is not None and declared_version not in (1, 2, 3):
        raise UnsupportedProtocolVersion(declared_version, frame)
    if declared_version is not None and declared_version != 3:
        # A marker naming version 1 or 2 (never sent, but harmless): honour it.
        frame = Frame(
            ProtocolVersion(declared_version),
            frame.payload,
            frame.content_type,
            frame.chunk_count,
            frame.chunk_id,
        )
    if (frame.chunk_count is None) != (frame.chunk_id is None):
        raise InvalidFrame("A chunk must carry both chunk-count and chunk-id headers")
    if frame.chunk_id is not None and frame.chunk_count is not None:
        if frame.chunk_id > frame.chunk_count:
            raise InvalidFrame(f"Chunk {frame.chunk_id} of only {frame.chunk_count}")
        if frame.version < ProtocolVersion.VERSION_3:
            raise InvalidFrame("Chunked messages exist only in protocol version 3")
    return frame


_header_cache: dict[tuple[ProtocolVersion, str], bytes] = {}


def _frame_header(version: ProtocolVersion, mime_type: str) -> bytes:
    try:
        return _header_cache[version, mime_type]
    except KeyError:
        pass
    header = b""
    if version >= ProtocolVersion.VERSION_2:
        header = version.prefix + b"content-type:" + mime_type.encode("ascii") + b";"
    _header_cache[version, mime_type] = header
    return header


def build_frame(payload: bytes, version: ProtocolVersion, mime_type: str) -> bytes:
    """Frame a serialized envelope in ``version`` (version 1 carries no content type)."""
    return _frame_header(version, mime_type) + payload


def split_into_chunks(payload: bytes, mime_type: str, chunk_size: int) -> list[bytes]:
    """Cut a serialized envelope into version-3 chunks of at most ``chunk_size`` bytes of
    payload each, numbered from 1."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    count = max(1, math.ceil(len(payload) / chunk_size))
    header = _frame_header(ProtocolVersion.VERSION_3, mime_type) + b"chunk-count:%d;" % count
    return [
        header
        + b"chunk-id:%d;" % (index + 1)
        + payload[index * chunk_size : (index + 1) * chunk_size]
        for index in range(count)
    ]


class ChunkAssembler:
    """Joins the chunks of one message, which must arrive in order, 1 to ``chunk_count``."""

    __slots__ = ("_parts", "chunk_count", "first")

    def __init__(self, first: Frame) -> None:
        if first.chunk_count is None or first.chunk_id is None:
            raise InvalidFrame("The first frame of a chunked message carries no chunk headers")
        if first.chunk_id != 1:
            raise InvalidFrame(f"A chunked message started with chunk {first.chunk_id}, not 1")
        self.first = first
        self.chunk_count: int = first.chunk_count
        self._parts = [first.payload]

    @property
    def complete(self) -> bool:
        return len(self._parts) == self.chunk_count

    @property
    def expected_chunk_id(self) -> int:
        return len(self._parts) + 1

    def add(self, frame: Frame) -> None:
        """Add the next chunk; raise :class:`InvalidFrame` if it is not the one expected."""
        expected = self.expected_chunk_id
        if self.complete:
            raise InvalidFrame(f"All {self.chunk_count} chunks were already received")
        if frame.chunk_count is None or frame.chunk_id is None:
            raise InvalidFrame(
                f"Expected chunk {expected} of {self.chunk_count}, got a frame without chunk "
                "headers (chunks of different messages interleaved?)"
            )
        if frame.chunk_count != self.chunk_count or frame.chunk_id != expected:
            raise InvalidFrame(
                f"Expected chunk {expected} of {self.chunk_count}, got chunk "
                f"{frame.chunk_id} of {frame.chunk_count}"
            )
        self._parts.append(frame.payload)

    @property
    def payload(self) -> bytes:
        """The joined payload (only once :attr:`complete`)."""
        if not self.complete:
            raise InvalidFrame(
                f"Chunked message incomplete: {len(self._parts)} of {self.chunk_count} chunks"
            )
        return b"".join(self._parts)


# --- envelopes ----------------------------------------------------------------------------


def resolve_content_type(content_type: str | None, default: Serializer) -> Serializer:
    """The serializer for a frame's content type; unknown or missing types use ``default``."""
    if content_type is None or content_type == default.mime_type:
        return default
    try:
        return Serializer.resolve_serializer(content_type)
    except ValueError:
        return default


@dataclass(slots=True)
class Envelope:
    """A decoded message: its request id, meta dict and body (as sent; not checked)."""

    request_id: int
    meta: dict[str, Any]
    body: Any


def encode_envelope(
    request_id: int, meta: dict[str, Any], body: Any, serializer: Serializer
) -> bytes:
    """Serialize ``{"request_id", "meta", "body"}``; raises ``InvalidField`` if it cannot."""
    return serializer.dict_to_blob({"request_id": request_id, "meta": meta, "body": body})


def decode_envelope(payload: bytes, serializer: Serializer) -> Envelope:
    """Deserialize and check an envelope.

    Raises :class:`~servicewire.errors.InvalidMessageError` for an undecodable payload, a
    missing or non-integer ``request_id`` or a ``meta`` that is not a dict, with the request
    id and meta set when they could be read.
    """
    try:
        message = serializer.blob_to_dict(payload)
    except InvalidMessage as error:
        raise InvalidMessageError(f"Undecodable message: {error}") from None
    request_id = message.get("request_id")
    meta = message.get("meta", {})
    if not isinstance(meta, dict):
        meta_type = type(meta).__name__
        raise InvalidMessageError(
            f"Message meta must be a dict, not {meta_type}",
            request_id=request_id if _is_request_id(request_id) else None,
        )
    if request_id is None:
        raise InvalidMessageError("Message has no request_id", meta=meta)
    if not _is_request_id(request_id):
        raise InvalidMessageError(
            f"Message request_id must be an integer, not {type(request_id).__name__}", meta=meta
        )
    return Envelope(request_id, meta, message.get("body"))


def _is_request_id(value: Any) -> bool:
    return type(value) is int


def read_message(data: bytes, default_serializer: Serializer) -> tuple[Frame, Envelope]:
    """Parse and decode one whole (unchunked) message.

    Raises :class:`InvalidFrame` (a chunk of a larger message among them) or
    :class:`~servicewire.errors.InvalidMessageError`.
    """
    frame = parse_frame(data)
    if frame.is_chunk:
        raise InvalidFrame(
            f"Unexpected chunk {frame.chunk_id} of {frame.chunk_count} (chunked messages are "
            "only sent from servers to clients)"
        )
    serializer = resolve_content_type(frame.content_type, default_serializer)
    return frame, decode_envelope(frame.payload, serializer)


class MessageReader:
    """Reads one message from the items popped off a queue: one frame, or all the chunks of
    a chunked message in order.

    :meth:`feed` each item until it returns the :class:`Envelope`; it raises
    :class:`~servicewire.errors.InvalidMessageError` for anything malformed.
    """

    __slots__ = ("_chunks", "default_serializer")

    def __init__(self, default_serializer: Serializer) -> None:
        self.default_serializer = default_serializer
        self._chunks: ChunkAssembler | None = None

    def feed(self, data: bytes) -> Envelope | None:
        """Read the next item; return the envelope once the message is complete."""
        frame = parse_frame(data)
        chunks = self._chunks
        if chunks is None:
            if not frame.is_chunk:
                serializer = resolve_content_type(frame.content_type, self.default_serializer)
                return decode_envelope(frame.payload, serializer)
            chunks = self._chunks = ChunkAssembler(frame)
        else:
            chunks.add(frame)
        if not chunks.complete:
            return None
        serializer = resolve_content_type(chunks.first.content_type, self.default_serializer)
        return decode_envelope(chunks.payload, serializer)

    def incomplete(self) -> InvalidFrame:
        """The error for a chunked message whose next chunk never came."""
        chunks = self._chunks
        if chunks is None:
            return InvalidFrame("No message arrived")
        return InvalidFrame(
            f"Chunked message incomplete: chunk {chunks.expected_chunk_id} of "
            f"{chunks.chunk_count} did not arrive in time"
        )


def is_expired(meta: dict[str, Any], now: float) -> bool:
    """Whether a message with this meta expired before ``now`` (epoch seconds).

    A missing, zero or non-numeric expiry never expires (as with PySOA).
    """
    expiry = meta.get(EXPIRY_META_KEY)
    if not expiry or isinstance(expiry, bool) or not isinstance(expiry, int | float):
        return False
    return bool(expiry < now)
