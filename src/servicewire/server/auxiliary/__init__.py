"""Auxiliary actions: work that runs for an action after its response has been sent
(audit trails, notifications, cache warming), and the processors that run them.

A server declares them by primary action name::

    class UsersServer(Server):
        service_name = "users"
        action_class_map = {"create_user": CreateUser}
        auxiliary_action_map = {"create_user": [SendWelcomeEmail, IndexUser]}

Each receives an :class:`AuxiliaryActionRequest`; the ``auxiliary_processors`` server
setting chooses where they run (see the guide, ``docs/auxiliary-actions-and-events.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from servicewire.server.auxiliary.actions import AuxiliaryAction
from servicewire.server.auxiliary.call import AuxiliaryActionRequest, AuxiliaryCall
from servicewire.server.auxiliary.processors import (
    AuxProcessor,
    SyncAuxProcessor,
    ThreadAuxProcessor,
    ThreadAuxStatistics,
)
from servicewire.server.auxiliary.queued import (
    QueuedAuxProcessor,
    auxiliary_server,
    auxiliary_service_name,
)

if TYPE_CHECKING:
    from servicewire.server.server import Server

__all__ = [
    "AuxProcessor",
    "AuxiliaryAction",
    "AuxiliaryActionRequest",
    "AuxiliaryCall",
    "QueuedAuxProcessor",
    "SyncAuxProcessor",
    "ThreadAuxProcessor",
    "ThreadAuxStatistics",
    "auxiliary_processors",
    "auxiliary_server",
    "auxiliary_service_name",
]


def auxiliary_processors(server: Server) -> Mapping[str, AuxProcessor]:
    """The auxiliary processors of ``server``, by name (empty for a server without
    auxiliary actions): for health checks, say, with ``ThreadAuxProcessor.statistics()``."""
    auxiliary = server.serving.auxiliary
    return {} if auxiliary is None else dict(auxiliary.processors)
