"""PySOA's ``pysoa.common.transport.redis_gateway``."""

__all__: list[str] = []
