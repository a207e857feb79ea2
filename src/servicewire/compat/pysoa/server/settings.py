"""PySOA's ``pysoa.server.settings``."""

from servicewire.server import ServerSettings

__all__ = ["ServerSettings"]
