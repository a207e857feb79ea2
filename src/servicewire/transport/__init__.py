"""Transports: how requests and responses travel between clients and servers.

Built in: ``servicewire.transport.local`` (in-process), ``servicewire.transport.redis``
(Redis, wire-compatible with PySOA) and ``servicewire.transport.sql`` (SQLite or
PostgreSQL queues).
"""

from servicewire.transport.base import (
    AsyncClientTransport,
    ClientTransport,
    ReceivedMessage,
    ServerTransport,
    Transport,
)

__all__ = [
    "AsyncClientTransport",
    "ClientTransport",
    "ReceivedMessage",
    "ServerTransport",
    "Transport",
]
