"""PySOA's ``pysoa.server``."""

__all__: list[str] = []
