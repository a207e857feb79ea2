"""The Redis transport, wire-compatible with PySOA 1.x.

``RedisClientTransport`` and ``RedisServerTransport`` speak PySOA's Redis gateway protocol
byte for byte (see ``docs/transport-redis.md``); ``AsyncRedisClientTransport`` is the asyncio
twin of the client side; ``DeadLetters`` reads and re-queues the requests that servers with
at-least-once delivery gave up on. The protocol itself, without I/O, is in
:mod:`servicewire.transport.redis.protocol`.
"""

from servicewire.transport.redis.aio import AsyncRedisClientTransport
from servicewire.transport.redis.client import RedisClientTransport
from servicewire.transport.redis.dead_letters import DeadLetter, DeadLetters
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
    "DeadLetter",
    "DeadLetters",
    "RedisClientTransport",
    "RedisClientTransportSettings",
    "RedisServerTransport",
    "RedisServerTransportSettings",
    "RedisTransportSettings",
]
