"""PySOA's ``pysoa.client.client``."""

from servicewire.client import (
    Client,
    ServiceHandler,
)

__all__ = ["Client", "ServiceHandler"]
