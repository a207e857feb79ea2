"""PySOA's ``pysoa.common.transport.redis_gateway.constants``."""

from servicewire.transport.redis.protocol import ProtocolVersion

__all__ = ["ProtocolVersion"]
