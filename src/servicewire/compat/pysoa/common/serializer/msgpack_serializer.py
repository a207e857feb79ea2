"""PySOA's ``pysoa.common.serializer.msgpack_serializer``."""

from servicewire.serializer import MsgpackSerializer

__all__ = ["MsgpackSerializer"]
