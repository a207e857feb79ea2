"""PySOA's ``pysoa.common.transport.base``."""

from servicewire.transport import (
    ClientTransport,
    ReceivedMessage,
    ServerTransport,
    Transport,
)

__all__ = ["ClientTransport", "ReceivedMessage", "ServerTransport", "Transport"]
