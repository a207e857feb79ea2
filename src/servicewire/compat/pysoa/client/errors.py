"""PySOA's ``pysoa.client.errors``."""

from servicewire.errors import (
    CallActionError,
    CallJobError,
    ImproperlyConfigured,
    InvalidExpansionKey,
    PySOAClientError,
)

__all__ = [
    "CallActionError",
    "CallJobError",
    "ImproperlyConfigured",
    "InvalidExpansionKey",
    "PySOAClientError",
]
