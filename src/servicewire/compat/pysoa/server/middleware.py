"""PySOA's ``pysoa.server.middleware``."""

from servicewire.server import ServerMiddleware

__all__ = ["ServerMiddleware"]
