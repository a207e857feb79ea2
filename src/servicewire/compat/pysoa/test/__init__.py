"""PySOA's ``pysoa.test``."""

__all__: list[str] = []
