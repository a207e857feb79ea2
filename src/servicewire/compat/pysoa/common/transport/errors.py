"""PySOA's ``pysoa.common.transport.errors``."""

from servicewire.errors import (
    ConnectionError,  # noqa: A004 - PySOA's name
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    MessageSendTimeout,
    MessageTooLarge,
    PySOATransportError,
    TransientPySOATransportError,
)

__all__ = [
    "ConnectionError",
    "InvalidMessageError",
    "MessageReceiveError",
    "MessageReceiveTimeout",
    "MessageSendError",
    "MessageSendTimeout",
    "MessageTooLarge",
    "PySOATransportError",
    "TransientPySOATransportError",
]
