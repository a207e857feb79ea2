"""PySOA's ``pysoa.client.settings``."""

from servicewire.client import ClientSettings

__all__ = ["ClientSettings"]
