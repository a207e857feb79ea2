"""PySOA's ``pysoa.server.action``."""

from servicewire.server import Action

__all__ = ["Action"]
