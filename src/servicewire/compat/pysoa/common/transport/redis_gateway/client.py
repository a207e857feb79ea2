"""PySOA's ``pysoa.common.transport.redis_gateway.client``."""

from servicewire.transport.redis import RedisClientTransport

__all__ = ["RedisClientTransport"]
