"""PySOA's ``pysoa.server.action.switched``."""

from servicewire.server import SwitchedAction

__all__ = ["SwitchedAction"]
