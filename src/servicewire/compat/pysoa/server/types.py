"""PySOA's ``pysoa.server.types``."""

from servicewire.server import (
    ActionInterface,
    ActionType,
    EnrichedActionRequest,
    EnrichedJobRequest,
)

__all__ = ["ActionInterface", "ActionType", "EnrichedActionRequest", "EnrichedJobRequest"]
