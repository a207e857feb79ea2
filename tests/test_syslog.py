"""The syslog handler, against real sockets: packets fit, long records truncate or fragment
cleanly, and fragments put back together give the record."""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicewire.logging import LogContextFilter, SyslogHandler, log_context

PREAMBLE_FORMAT = "%(name)s %(levelname)s correlation_id %(correlation_id)s "
PRIORITY = re.compile(rb"^<\d+>")


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    """A UDP socket on a free loopback port, as a syslog daemon would listen."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        yield sock


def packets(sock: socket.socket, count: int) -> list[bytes]:
    return [sock.recv(70_000) for _ in range(count)]


def no_more_packets(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(70_000)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(10)
    return False


def handler_for(sock: socket.socket, **kwargs: object) -> SyslogHandler:
    handler = SyslogHandler(address=sock.getsockname(), **kwargs)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter(PREAMBLE_FORMAT + "%(message)s"))
    handler.addFilter(LogContextFilter())
    return handler


def emit(handler: SyslogHandler, message: str, error: BaseException | None = None) -> str:
    """Log ``message`` through ``handler`` alone; return the text the handler formatted."""
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    record = logging.LogRecord("tests.syslog", logging.ERROR, __file__, 0, message, None, exc_info)
    with log_context(correlation_id="corr-9"):
        handler.handle(record)
    try:
        return handler.format(record)
    finally:
        handler.close()


def body(packet: bytes) -> bytes:
    """A packet without its priority and trailing NUL."""
    return PRIORITY.sub(b"", packet).removesuffix(b"\000")


def test_a_record_that_fits_is_sent_as_one_packet(receiver: socket.socket) -> None:
    text = emit(handler_for(receiver), "short and sweet")
    [packet] = packets(receiver, 1)
    assert packet.startswith(b"<11>")  # LOG_USER (1) * 8 + ERROR (3)
    assert body(packet) == text.encode()
    assert no_more_packets(receiver)


def test_a_10_kb_record_is_fragmented_into_packets_that_reassemble_it(
    receiver: socket.socket,
) -> None:
    message = "".join(f"line {number:05d} of a long record\n" for number in range(360))
    assert len(message) > 10_000
    handler = handler_for(receiver, maximum_length=1472)
    text = emit(handler, message)
    preamble = b"tests.syslog ERROR correlation_id corr-9 "
    expected_count = -(-len(message.encode()) // (1472 - len(b"<11>") - len(preamble) - 1))
    received = packets(receiver, expected_count)
    assert no_more_packets(receiver)
    assert all(len(packet) <= 1472 for packet in received)
    assert all(body(packet).startswith(preamble) for packet in received)
    reassembled = preamble + b"".join(body(packet)[len(preamble) :] for packet in received)
    assert reassembled.decode() == text


def receive_fragments(sock: socket.socket, preamble: bytes, text: str) -> list[bytes]:
    """Receive packets until, less their repeated preamble, they add up to ``text``."""
    received: list[bytes] = []
    length = len(preamble)
    while length < len(text.encode()):
        received.append(sock.recv(70_000))
        length += len(body(received[-1])) - len(preamble)
    return received


def reassemble(received: list[bytes], preamble: bytes) -> str:
    return (preamble + b"".join(body(packet)[len(preamble) :] for packet in received)).decode()


def test_fragments_never_split_a_multi_byte_character(receiver: socket.socket) -> None:
    message = "é€😀ß" * 400  # 2, 3, 4 and 2 bytes per character
    text = emit(handler_for(receiver, maximum_length=200), message)
    preamble = b"tests.syslog ERROR correlation_id corr-9 "
    received = receive_fragments(receiver, preamble, text)
    assert no_more_packets(receiver)
    for packet in received:
        body(packet).decode("utf-8")  # strict: fails on a split character
    assert reassemble(received, preamble) == text


def test_exception_text_is_fragmented_along_with_the_message(receiver: socket.socket) -> None:
    try:
        raise ValueError("x" * 3000)
    except ValueError as error:
        text = emit(handler_for(receiver, maximum_length=512), "failed", error)
    preamble = b"tests.syslog ERROR correlation_id corr-9 "
    received = receive_fragments(receiver, preamble, text)
    assert len(received) > 6
    assert reassemble(received, preamble) == text
    assert "ValueError: xxx" in text


def test_truncation_sends_one_packet_cut_on_a_character_boundary(
    receiver: socket.socket,
) -> None:
    text = emit(handler_for(receiver, maximum_length=101, overflow="truncate"), "€" * 100)
    [packet] = packets(receiver, 1)
    assert no_more_packets(receiver)
    assert len(packet) <= 101
    sent = body(packet).decode("utf-8")
    assert text.startswith(sent)
    assert len(sent.encode()) > 101 - len("<11>") - 1 - 3


def test_on_loopback_the_mtu_is_large_enough_for_a_20_kb_record_in_one_packet(
    receiver: socket.socket,
) -> None:
    handler = handler_for(receiver)
    assert handler.maximum_length > 20_000
    text = emit(handler, "z" * 20_000)
    [packet] = packets(receiver, 1)
    assert body(packet) == text.encode()


def test_without_a_preamble_the_whole_text_is_fragmented(receiver: socket.socket) -> None:
    handler = SyslogHandler(address=receiver.getsockname(), maximum_length=100)
    handler.setFormatter(logging.Formatter("%(message)s"))
    message = "abcdefghij" * 50
    emit(handler, message)
    received = receive_fragments(receiver, b"", message)
    assert b"".join(body(packet) for packet in received) == message.encode()


def test_overflow_is_given_by_name_or_number() -> None:
    fragment = SyslogHandler(address=("127.0.0.1", 9), overflow="fragment")
    truncate = SyslogHandler(address=("127.0.0.1", 9), overflow=1)
    assert fragment.overflow == SyslogHandler.OVERFLOW_BEHAVIOR_FRAGMENT
    assert truncate.overflow == SyslogHandler.OVERFLOW_BEHAVIOR_TRUNCATE
    fragment.close()
    truncate.close()
    with pytest.raises(ValueError, match="overflow must be 'fragment'"):
        SyslogHandler(address=("127.0.0.1", 9), overflow="drop")
    with pytest.raises(ValueError, match="at least 64 bytes"):
        SyslogHandler(address=("127.0.0.1", 9), maximum_length=10)


def test_records_go_to_a_unix_datagram_socket_too() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "log.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(10)
            handler = SyslogHandler(address=path)
            handler.setFormatter(logging.Formatter("%(message)s"))
            assert handler.overflow == SyslogHandler.OVERFLOW_BEHAVIOR_TRUNCATE
            emit(handler, f"from process {os.getpid()}")
            assert body(sock.recv(70_000)) == f"from process {os.getpid()}".encode()
