"""PySOA's ``pysoa.server.server``."""

from servicewire.errors import HarakiriInterrupt
from servicewire.server import Server

__all__ = ["HarakiriInterrupt", "Server"]
