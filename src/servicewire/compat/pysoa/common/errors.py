"""PySOA's ``pysoa.common.errors``."""

from servicewire.errors import PySOAError
from servicewire.types import Error

__all__ = ["Error", "PySOAError"]
