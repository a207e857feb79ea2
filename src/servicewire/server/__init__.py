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
from servicewire.server.invokers import (
    ConcurrentInvoker,
    DeduplicatingInvoker,
    Invoker,
    SerializedInvoker,
)
from servicewire.server.middleware import ServerMiddleware
from servicewire.server.policies import (
    AllOf,
    AllowAny,
    AllowCallingServices,
    AllowSwitches,
    AnyOf,
    Denial,
    DenyAll,
    Policy,
)
from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest, RequestSwitchSet
from servicewire.server.server import Server
from servicewire.server.settings import HarakiriSettings, ServerSettings
from servicewire.server.signing import AllowSignedRequests, RequestSigningSettings
from servicewire.server.switched import SwitchedAction
from servicewire.server.workers import WorkerPool, WorkerPoolStatistics

__all__ = [
    "Action",
    "ActionInterface",
    "ActionType",
    "AllOf",
    "AllowAny",
    "AllowCallingServices",
    "AllowSignedRequests",
    "AllowSwitches",
    "AnyOf",
    "AuxiliaryAction",
    "AuxiliaryActionRequest",
    "BaseStatusAction",
    "CheckMethodStatus",
    "ConcurrentInvoker",
    "CoroutineMiddleware",
    "DeduplicatingInvoker",
    "DefaultCoroutineMiddleware",
    "Denial",
    "DenyAll",
    "EnrichedActionRequest",
    "EnrichedJobRequest",
    "HarakiriSettings",
    "IntrospectionAction",
    "Invoker",
    "Policy",
    "RequestSigningSettings",
    "RequestSwitchSet",
    "SerializedInvoker",
    "Server",
    "ServerEvent",
    "ServerEvents",
    "ServerMiddleware",
    "ServerSettings",
    "StatusActionFactory",
    "SwitchedAction",
    "WorkerPool",
    "WorkerPoolStatistics",
]
