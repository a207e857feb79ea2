"""A syslog handler that fits each record into packets the connection can carry.

The standard library's ``SysLogHandler`` sends a record as one datagram, and a datagram
larger than the path's MTU is lost (or fragmented by IP and then often dropped on the way).
:class:`SyslogHandler` learns the largest packet the connection can carry and either
truncates a longer record or splits it into several packets, never inside a multi-byte
character. Re-exported as ``servicewire.logging.SyslogHandler``.
"""

from __future__ import annotations

import logging
import logging.handlers
import socket
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["SyslogHandler"]

# The IP and UDP headers in front of each datagram's payload (no IP options).
_UDP_IPV4_HEADER_BYTES = 20 + 8
_UDP_IPV6_HEADER_BYTES = 40 + 8
_UDP_MAX_PAYLOAD_BYTES = 65535 - _UDP_IPV4_HEADER_BYTES
# Every IPv4 host must accept datagrams this large; used when the MTU cannot be learned.
_WORST_CASE_MTU = 576
# Linux socket options (not exposed by the socket module): the path MTU of a connected socket.
_IP_MTU = 14
_IPV6_MTU = 24
# Stream and UNIX sockets have no MTU; this caps what one record may put on them.
_STREAM_MAX_BYTES = 1024 * 1024


def _is_continuation_byte(byte: int) -> bool:
    return byte & 0b1100_0000 == 0b1000_0000


def _clean_cut(data: bytes, start: int, limit: int) -> int:
    """The end of the longest piece of UTF-8 ``data`` from ``start``, at most ``limit`` bytes
    long, that splits no character."""
    end = start + limit
    if end >= len(data):
        return len(data)
    cut = end
    while cut > start and _is_continuation_byte(data[cut]):
        cut -= 1
    # A limit smaller than one character cannot be honoured cleanly; cut it anyway.
    return cut if cut > start else end


def _chunks(data: bytes, limit: int) -> Iterator[bytes]:
    """``data`` in pieces of at most ``limit`` bytes, each a whole number of characters."""
    start = 0
    while start < len(data):
        end = _clean_cut(data, start, limit)
        yield data[start:end]
        start = end


def _udp_maximum_length(address: tuple[str, int], family: int) -> int:
    """The largest UDP payload that reaches ``address`` without IP fragmentation."""
    header = _UDP_IPV6_HEADER_BYTES if family == socket.AF_INET6 else _UDP_IPV4_HEADER_BYTES
    mtu = _WORST_CASE_MTU
    if sys.platform.startswith("linux"):
        level, option = (
            (socket.IPPROTO_IPV6, _IPV6_MTU)
            if family == socket.AF_INET6
            else (socket.IPPROTO_IP, _IP_MTU)
        )
        # Connecting a UDP socket sends nothing; it makes the kernel look up the route.
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(address)
                mtu = probe.getsockopt(level, option)
            except OSError:
                mtu = _WORST_CASE_MTU
    return min(mtu - header, _UDP_MAX_PAYLOAD_BYTES)


class SyslogHandler(logging.handlers.SysLogHandler):
    """A ``SysLogHandler`` whose packets fit the connection.

    Over UDP, the largest packet is learned from the route to ``address`` (its MTU, less the
    IP and UDP headers; 576 bytes, the minimum every host accepts, if it cannot be learned).
    Over stream and UNIX sockets a record is capped at 1 MiB and truncated beyond that.
    ``maximum_length`` sets the largest packet in bytes explicitly.

    A record too long for one packet is handled as ``overflow`` says:

    - ``OVERFLOW_BEHAVIOR_FRAGMENT`` (``0`` or ``"fragment"``, the default): the text before
      the message (the preamble, where the formatter puts the time, level, logger and
      correlation id) is repeated at the start of each packet, followed by the next piece of
      the message and exception text. Concatenating the pieces gives the record back.
    - ``OVERFLOW_BEHAVIOR_TRUNCATE`` (``1`` or ``"truncate"``): one packet with as much of
      the record as fits.

    Pieces never end inside a multi-byte UTF-8 character.
    """

    OVERFLOW_BEHAVIOR_FRAGMENT = 0
    OVERFLOW_BEHAVIOR_TRUNCATE = 1

    def __init__(
        self,
        address: tuple[str, int] | list[Any] | str = ("localhost", 514),
        facility: int = logging.handlers.SysLogHandler.LOG_USER,
        socket_type: int | None = None,
        overflow: int | str = OVERFLOW_BEHAVIOR_FRAGMENT,
        maximum_length: int | None = None,
    ) -> None:
        if isinstance(address, list):
            # JSON and YAML logging configurations cannot spell a tuple.
            address = (str(address[0]), int(address[1]))
        super().__init__(
            address, facility, None if socket_type is None else socket.SocketKind(socket_type)
        )
        self.overflow = self._overflow_behavior(overflow)
        if maximum_length is not None:
            if maximum_length < 64:
                raise ValueError(f"maximum_length must be at least 64 bytes, not {maximum_length}")
            self.maximum_length = maximum_length
        elif not self.unixsocket and self.socktype == socket.SOCK_DGRAM:
            assert isinstance(address, tuple)
            self.maximum_length = _udp_maximum_length(address, self._socket().family)
        else:
            self.maximum_length = _STREAM_MAX_BYTES
            self.overflow = self.OVERFLOW_BEHAVIOR_TRUNCATE

    @classmethod
    def _overflow_behavior(cls, overflow: int | str) -> int:
        by_name = {
            "fragment": cls.OVERFLOW_BEHAVIOR_FRAGMENT,
            "truncate": cls.OVERFLOW_BEHAVIOR_TRUNCATE,
        }
        if isinstance(overflow, str) and overflow.lower() in by_name:
            return by_name[overflow.lower()]
        if overflow in by_name.values():
            return int(overflow)
        raise ValueError(f"overflow must be 'fragment' (0) or 'truncate' (1), not {overflow!r}")

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` in one packet, or in several (or truncated) if it does not fit."""
        try:
            text = self.format(record)
            priority = f"<{self.encodePriority(self.facility, self.mapPriority(record.levelname))}>"
            head = (priority + self.ident).encode("utf-8")
            tail = b"\000" if self.append_nul else b""
            encoded = text.encode("utf-8")
            room = self.maximum_length - len(head) - len(tail)
            if len(encoded) <= room:
                self._send(head + encoded + tail)
            elif self.overflow == self.OVERFLOW_BEHAVIOR_TRUNCATE:
                self._send(head + encoded[: _clean_cut(encoded, 0, room)] + tail)
            else:
                preamble = self._preamble(text, record).encode("utf-8")
                if room - len(preamble) < room // 2:
                    # A preamble this long would leave too little room for the message.
                    preamble = b""
                for chunk in _chunks(encoded[len(preamble) :], room - len(preamble)):
                    self._send(head + preamble + chunk + tail)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    @staticmethod
    def _preamble(text: str, record: logging.LogRecord) -> str:
        """The formatted text in front of the record's message ("" if there is none)."""
        message = getattr(record, "message", None)
        position = text.find(message) if message else -1
        return text[:position] if position > 0 else ""

    def _socket(self) -> socket.socket:
        connection: socket.socket = self.socket  # type: ignore[attr-defined]
        return connection

    def _send(self, packet: bytes) -> None:
        if self.unixsocket:
            try:
                self._socket().send(packet)
            except OSError:
                # The syslog daemon restarted: reconnect once and retry.
                self._socket().close()
                self._connect_unixsocket(self.address)  # type: ignore[attr-defined]
                self._socket().send(packet)
        elif self.socktype == socket.SOCK_DGRAM:
            self._socket().sendto(packet, self.address)
        else:
            self._socket().sendall(packet)
