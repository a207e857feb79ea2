"""PySOA's ``pysoa.common.serializer.base``."""

from servicewire.serializer import Serializer

__all__ = ["Serializer"]
