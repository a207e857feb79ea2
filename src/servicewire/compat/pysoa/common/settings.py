"""PySOA's ``pysoa.common.settings``."""

from servicewire.settings import SOASettings

__all__ = ["SOASettings"]
