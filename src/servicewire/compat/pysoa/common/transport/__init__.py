"""PySOA's ``pysoa.common.transport``."""

__all__: list[str] = []
