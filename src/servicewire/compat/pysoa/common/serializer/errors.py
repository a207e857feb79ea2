"""PySOA's ``pysoa.common.serializer.errors``."""

from servicewire.errors import (
    InvalidField,
    InvalidMessage,
    SerializationError,
)

__all__ = ["InvalidField", "InvalidMessage", "SerializationError"]
