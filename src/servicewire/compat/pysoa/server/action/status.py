"""PySOA's ``pysoa.server.action.status``."""

from servicewire.server.builtin import (
    BaseStatusAction,
    CheckMethodReturn,
    CheckMethodStatus,
    StatusActionFactory,
    make_default_status_action_class,
)

__all__ = [
    "BaseStatusAction",
    "CheckMethodReturn",
    "CheckMethodStatus",
    "StatusActionFactory",
    "make_default_status_action_class",
]
