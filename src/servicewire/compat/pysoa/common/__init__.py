"""PySOA's ``pysoa.common``."""

__all__: list[str] = []
