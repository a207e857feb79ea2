"""PySOA's ``pysoa.common.transport.redis_gateway.constants``."""

from servicewire.transport.redis.protocol import ProtocolVersion
from servicewire.transport.redis.settings import (
    BACKEND_TYPE_SENTINEL as REDIS_BACKEND_TYPE_SENTINEL,
)
from servicewire.transport.redis.settings import (
    BACKEND_TYPE_STANDARD as REDIS_BACKEND_TYPE_STANDARD,
)
from servicewire.transport.redis.settings import (
    DEFAULT_CLIENT_MAXIMUM_MESSAGE_BYTES as DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT,
)
from servicewire.transport.redis.settings import (
    DEFAULT_SERVER_MAXIMUM_MESSAGE_BYTES as DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER,
)
from servicewire.transport.redis.settings import (
    MINIMUM_CHUNK_THRESHOLD_IN_BYTES as MINIMUM_CHUNKED_MESSAGE_BYTES,
)

REDIS_BACKEND_TYPES = (REDIS_BACKEND_TYPE_STANDARD, REDIS_BACKEND_TYPE_SENTINEL)

__all__ = [
    "DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT",
    "DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER",
    "MINIMUM_CHUNKED_MESSAGE_BYTES",
    "REDIS_BACKEND_TYPES",
    "REDIS_BACKEND_TYPE_SENTINEL",
    "REDIS_BACKEND_TYPE_STANDARD",
    "ProtocolVersion",
]
