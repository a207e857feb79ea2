"""PySOA's ``pysoa.server.action.introspection``."""

from servicewire.server import IntrospectionAction

__all__ = ["IntrospectionAction"]
