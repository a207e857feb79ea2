"""A held connection's socket, driven by the link itself instead of through redis-py.

Every call makes two round trips on one connection that one thread holds, and redis-py
spends more on each than the exchange needs: a Python socket with a timeout waits in
``poll`` before every send and receive; ``read_response(timeout=...)`` switches the socket's
timeout twice (two ``ioctl``) on every blocking pop; and every ``read_response`` formats the
host's name for an error it may never raise, then goes through a parser built for every
reply type and push notification there is. A plain TCP or Unix socket held by one thread
instead stays in blocking mode, with the kernel's ``SO_RCVTIMEO`` and ``SO_SNDTIMEO``
bounding each receive and send, and the link writes its commands with one ``sendall`` and
reads their answers with a ``hiredis.Reader`` of its own, the parser redis-py itself uses.
A call then costs only its ``sendto`` and ``recvfrom`` and a few bytecodes around them.

redis-py still connects (TLS, AUTH, HELLO, SELECT, Sentinel discovery, the pool) and takes
the connection back: everything the link reads between taking a connection and giving it
back goes through the link's reader, so redis-py's own parser, which never saw those
answers, holds nothing of them. The receive bound is changed only when a wait needs a
longer one or a much shorter one (at most ``_SLACK`` seconds too long), so a steady stream
of calls sets it once.

TLS sockets (whose reads may need writes and which buffer above the kernel) and platforms
other than Linux keep redis-py's own handling.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Any

import hiredis
import redis

__all__ = ["HeldSocket"]

# How much longer than a wait needs the kernel's receive bound may stay, to spare a system
# call per wait while the waits' lengths vary a little.
_SLACK = 2.0
_SUPPORTED = sys.platform.startswith("linux")
# What one receive takes at most (redis-py reads as much).
_RECEIVE_BYTES = 64 * 1024
_PUSH_NOTIFICATION: type | None = getattr(hiredis, "PushNotification", None)


def _timeval(seconds: float | None) -> bytes:
    """A ``struct timeval`` for ``SO_RCVTIMEO``/``SO_SNDTIMEO`` (0 waits forever)."""
    if not seconds or seconds <= 0:
        return struct.pack("ll", 0, 0)
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000) or 1)


class HeldSocket:
    """The blocking socket of one redis-py connection, written and read by its holder.

    :meth:`of` gives one for a connection whose socket can be driven so, ``None`` for the
    rest (which then use redis-py's ``send_packed_command`` and ``read_response``).
    :meth:`send` writes packed commands, :meth:`read` reads one answer within a bound, and
    :meth:`restore` gives the socket back its usual timeout before the connection returns
    to its pool, where redis-py's own commands expect it.
    """

    __slots__ = (
        "buffer",
        "connection",
        "on_master",
        "reader",
        "receive_bound",
        "socket",
        "socket_timeout",
    )

    def __init__(self, connection: Any, sock: socket.socket, socket_timeout: float | None):
        self.connection = connection
        self.socket = sock
        self.socket_timeout = socket_timeout
        # A connection to the master a Sentinel named: a refusal to write means that the
        # master was demoted, and the connection is dropped so that the next one asks the
        # Sentinels again (redis-py's Sentinel connections do the same).
        self.on_master = bool(
            getattr(getattr(connection, "connection_pool", None), "is_master", False)
        )
        # Errors are values of redis-py's types, so that callers tell them apart as they
        # would redis-py's; a malformed stream is a broken connection.
        self.reader = hiredis.Reader(
            protocolError=redis.ConnectionError, replyError=redis.ResponseError
        )
        self.buffer = bytearray(_RECEIVE_BYTES)
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(socket_timeout))
        self.receive_bound = socket_timeout or 0.0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(socket_timeout))

    @classmethod
    def of(cls, connection: Any) -> HeldSocket | None:
        """Take over the socket of a connected redis-py connection, if it is a plain TCP or
        Unix one on Linux."""
        # redis-py has no public accessor of a connection's socket.
        sock = getattr(connection, "_sock", None)
        if not _SUPPORTED or type(sock) is not socket.socket:
            return None
        return cls(connection, sock, getattr(connection, "socket_timeout", None))

    def send(self, packed: bytes) -> None:
        """Write packed commands (an ``OSError`` if the connection is broken, or if the
        kernel's send bound passed; the caller then drops the connection)."""
        self.socket.sendall(packed)

    def read(self, limit: float | None = None) -> Any:
        """The connection's next answer, waiting at most about ``limit`` seconds (without
        one, the bound of the wait before) for each part of it.

        An error answer is raised as ``redis.ResponseError``. Redis staying silent that
        long raises ``redis.TimeoutError``, and a closed or garbled stream
        ``redis.ConnectionError``; either closes the connection, as redis-py's
        ``read_response`` does."""
        if limit is not None:
            bound = self.receive_bound
            if limit > bound or limit < bound - _SLACK:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(limit))
                self.receive_bound = limit
        reader = self.reader
        try:
            answer = reader.gets()
            while answer is False:
                received = self.socket.recv_into(self.buffer)
                if not received:
                    raise redis.ConnectionError("Connection closed by server.")
                # (hiredis's stubs leave out the buffers it takes besides bytes)
                reader.feed(self.buffer, 0, received)  # type: ignore[arg-type]
                answer = reader.gets()
        except BlockingIOError:
            # The kernel's bound passed: the receive failed with EAGAIN.
            self.connection.disconnect()
            raise redis.TimeoutError(
                f"Timeout reading from socket ({self.receive_bound:.3f} s)"
            ) from None
        except (OSError, redis.ConnectionError):
            self.connection.disconnect()
            raise
        kind = type(answer)
        if kind is redis.ResponseError:
            if self.on_master and str(answer).startswith("READONLY"):
                self.connection.disconnect()
                raise redis.ConnectionError(f"The master was demoted to a replica: {answer}")
            raise answer
        if kind is _PUSH_NOTIFICATION:
            # A RESP3 notification nothing here subscribed to: the answer comes after it.
            return self.read()
        return answer

    def is_stale(self) -> bool:
        """Whether the socket has something to read while nothing is expected: the server
        closed it (a restart, say), or the stream is out of step."""
        if self.reader.has_data():
            return True
        try:
            self.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True

    def is_current(self) -> bool:
        """Whether the connection still uses the socket taken over (redis-py reconnects by
        itself after a disconnection)."""
        return getattr(self.connection, "_sock", None) is self.socket

    def restore(self) -> None:
        """Give the socket back the timeout redis-py set on it."""
        if not self.is_current():
            return
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(None))
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(None))
            self.socket.settimeout(self.socket_timeout)
        except OSError:
            # Closed under us: the pool reconnects it on its next use.
            pass
