"""The Redis transport, wire-compatible with PySOA 1.x.

``RedisClientTransport`` and ``RedisServerTransport`` speak PySOA's Redis gateway protocol
byte for byte (see ``docs/transport-redis.md``); ``AsyncRedisClientTransport`` is the asyncio
twin of the client side. The protocol itself, without I/O, is in
:mod:`servicewire.transport.redis.protocol`.
"""

from servicewire.transport.redis.aio import AsyncRedisClientTransport
from servicewire.transport.redis.client import RedisClientTransport
from servicewire.transport.redis.server import RedisServerTransport
from servicewire.transport.redis.settings import (
    BackendLayerSettings,
    RedisClientTransportSettings,
    RedisServerTransportSettings,
    RedisTransportSettings,
)

__all__ = [
    "AsyncRedisClientTransport",
    "BackendLayerSettings",
    "RedisClientTransport",
    "RedisClientTransportSettings",
    "RedisServerTransport",
    "RedisServerTransportSettings",
    "RedisTransportSettings",
]
