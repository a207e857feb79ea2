"""The server side: servers, actions, middleware and settings."""

from servicewire.server.action import Action, ActionInterface, ActionType
from servicewire.server.auxiliary import AuxiliaryAction, AuxiliaryActionRequest
from servicewire.server.builtin import (
    BaseStatusAction,
    CheckMethodStatus,
    IntrospectionAction,
    StatusActionFactory,
)
from servicewire.server.coroutine import CoroutineMiddleware, DefaultCoroutineMiddleware
from servicewire.server.events import ServerEvent, ServerEvents
from servicewire.server.middleware import ServerMiddleware
from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest, RequestSwitchSet
from servicewire.server.server import Server
from servicewire.server.settings import HarakiriSettings, ServerSettings
from servicewire.server.switched import SwitchedAction

__all__ = [
    "Action",
    "ActionInterface",
    "ActionType",
    "AuxiliaryAction",
    "AuxiliaryActionRequest",
    "BaseStatusAction",
    "CheckMethodStatus",
    "CoroutineMiddleware",
    "DefaultCoroutineMiddleware",
    "EnrichedActionRequest",
    "EnrichedJobRequest",
    "HarakiriSettings",
    "IntrospectionAction",
    "RequestSwitchSet",
    "Server",
    "ServerEvent",
    "ServerEvents",
    "ServerMiddleware",
    "ServerSettings",
    "StatusActionFactory",
    "SwitchedAction",
]
