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

from servicewire.server.auxiliary.actions import (
    AuxiliaryAction,
    AuxiliaryActionRequest,
    AuxiliaryCall,
    auxiliary_processors,
)
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
