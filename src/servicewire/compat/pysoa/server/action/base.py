"""PySOA's ``pysoa.server.action.base``."""

from servicewire.server import Action

__all__ = ["Action"]
