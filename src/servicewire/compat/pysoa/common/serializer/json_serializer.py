"""PySOA's ``pysoa.common.serializer.json_serializer``."""

from servicewire.serializer import JSONSerializer

__all__ = ["JSONSerializer"]
