"""PySOA's ``pysoa.client.middleware``."""

from servicewire.client import ClientMiddleware

__all__ = ["ClientMiddleware"]
