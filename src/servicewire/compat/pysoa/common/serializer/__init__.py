"""PySOA's ``pysoa.common.serializer``."""

from servicewire.serializer import (
    JSONSerializer,
    MsgpackSerializer,
)

__all__ = ["JSONSerializer", "MsgpackSerializer"]
