"""PySOA's ``pysoa.common.transport.redis_gateway.server``."""

from servicewire.transport.redis import RedisServerTransport

__all__ = ["RedisServerTransport"]
