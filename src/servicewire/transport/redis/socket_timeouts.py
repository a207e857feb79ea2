"""Timeouts on a held connection's socket, kept by the kernel instead of by Python.

A Python socket with a timeout waits in ``poll`` before every send and every receive, and
redis-py's ``read_response(timeout=...)`` switches the socket's timeout twice (two ``ioctl``)
on every blocking pop: four to six system calls per call that carry no data. A plain TCP or
Unix socket held by one thread can instead stay in blocking mode with the kernel's
``SO_RCVTIMEO`` and ``SO_SNDTIMEO`` bounding each receive and send, so that a call costs
only its ``sendto`` and ``recvfrom``. The receive bound is changed only when a wait needs a
longer one, or a much shorter one (at most ``_SLACK`` seconds too long), so a steady stream
of calls sets it once.

TLS sockets (whose reads may need writes and which buffer above the kernel) and platforms
other than Linux keep redis-py's own handling.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Any

import redis

__all__ = ["KernelTimeouts"]

# How much longer than a wait needs the kernel's receive bound may stay, to spare a system
# call per wait while the waits' lengths vary a little.
_SLACK = 2.0
_SUPPORTED = sys.platform.startswith("linux")


def _timeval(seconds: float | None) -> bytes:
    """A ``struct timeval`` for ``SO_RCVTIMEO``/``SO_SNDTIMEO`` (0 waits forever)."""
    if not seconds or seconds <= 0:
        return struct.pack("ll", 0, 0)
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000) or 1)


class KernelTimeouts:
    """The blocking socket of one redis-py connection, with its bounds in the kernel.

    :meth:`of` gives one for a connection whose socket can be driven so, ``None`` for the
    rest (which then use redis-py's ``read_response(timeout=...)``). :meth:`read` reads one
    answer within a bound; :meth:`restore` gives the socket back its usual timeout before
    the connection returns to its pool, where redis-py's own commands expect it.
    """

    __slots__ = ("connection", "receive_bound", "socket", "socket_timeout")

    def __init__(self, connection: Any, sock: socket.socket, socket_timeout: float | None):
        self.connection = connection
        self.socket = sock
        self.socket_timeout = socket_timeout
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(socket_timeout))
        self.receive_bound = socket_timeout or 0.0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(socket_timeout))

    @classmethod
    def of(cls, connection: Any) -> KernelTimeouts | None:
        """Take over the timeouts of a connected redis-py connection, if its socket is a
        plain TCP or Unix one on Linux."""
        # redis-py has no public accessor of a connection's socket.
        sock = getattr(connection, "_sock", None)
        if not _SUPPORTED or type(sock) is not socket.socket:
            return None
        return cls(connection, sock, getattr(connection, "socket_timeout", None))

    def read(self, limit: float) -> Any:
        """The connection's next answer, waiting at most about ``limit`` seconds for each
        part of it; raises ``redis.TimeoutError`` (the connection closed) when Redis stays
        silent that long, as ``read_response(timeout=limit)`` does."""
        bound = self.receive_bound
        if limit > bound or limit < bound - _SLACK:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(limit))
            self.receive_bound = limit
        try:
            return self.connection.read_response()
        except redis.ConnectionError as error:
            # The kernel's bound passed: the receive failed with EAGAIN.
            if isinstance(error.__context__, BlockingIOError):
                raise redis.TimeoutError(f"Timeout reading from socket ({limit:.3f} s)") from None
            raise

    def is_current(self) -> bool:
        """Whether the connection still uses the socket these bounds were set on (redis-py
        reconnects by itself after a disconnection)."""
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
