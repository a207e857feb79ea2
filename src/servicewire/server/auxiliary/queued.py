"""Durable auxiliary actions: sent as jobs through a transport, run by an auxiliary server.

:class:`QueuedAuxProcessor` sends each auxiliary call, once its primary job's response is
out, as a fire-and-forget job to an internal service, ``"<service>.auxiliary"`` by default,
through any transport (configured like any client's). The job waits in that service's
queue until a server of :func:`auxiliary_server` takes it, even if the primary's process
dies in the meantime; with an acknowledged transport (the SQL transport's default
``at_least_once``), a job whose auxiliary server dies before finishing it is delivered again.

The auxiliary job carries one action, named as the auxiliary action, whose body is an
*envelope*: the primary service and action, the primary request's ``body`` and
``control``, and the primary's response (``body`` and ``errors``); the job's context is the
primary job's (same correlation id and switches). The auxiliary server turns the envelope
back into the :class:`AuxiliaryActionRequest` the action would have received in-process.

Who can run auxiliary actions: the primary service never runs them for a caller (they are
unknown to it, and hidden from ``introspect``); the auxiliary server runs nothing but
auxiliary actions in envelopes naming its primary service (and ``status``). Its queue is an
internal one: whoever may write to it may run auxiliary actions, as whoever may write to
the primary's queue may call the primary's actions. Restrict it the same way (database
grants, Redis ACLs).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypedDict

from servicewire.client.client import Client
from servicewire.client.settings import ClientSettings
from servicewire.errors import ERROR_CODE_INVALID, JobError
from servicewire.logging import RecursivelyCensoredDictWrapper
from servicewire.server.action import ActionType
from servicewire.server.auxiliary.actions import (
    AuxiliaryActionRequest,
    AuxiliaryCall,
    auxiliary_entries,
)
from servicewire.server.auxiliary.processors import AuxProcessor
from servicewire.server.validation import errors_from_validation, validator_for
from servicewire.types import ActionResponse, Body, Control, Error

if TYPE_CHECKING:
    from servicewire.server.interface import ServerInterface
    from servicewire.server.server import Server

__all__ = [
    "QueuedAuxProcessor",
    "QueuedAuxProcessorSettings",
    "auxiliary_server",
    "auxiliary_service_name",
]

logger = logging.getLogger("servicewire.server.auxiliary")

ServerClass = TypeVar("ServerClass", bound="type[Server]")


def auxiliary_service_name(service_name: str) -> str:
    """The default name of the service that runs the queued auxiliary actions of
    ``service_name``: ``"<service_name>.auxiliary"``."""
    return f"{service_name}.auxiliary"


class _PrimaryResponse(TypedDict):
    body: dict[str, Any]
    errors: list[dict[str, Any]]


class _Envelope(TypedDict):
    service: str
    action: str
    body: dict[str, Any]
    control: dict[str, Any]
    response: _PrimaryResponse


def _envelope(call: AuxiliaryCall, service_name: str) -> Body:
    request = call.request
    response = request.primary_response
    return {
        "service": service_name,
        "action": response.action,
        "body": request.body,
        "control": request.control,
        "response": {"body": response.body, "errors": [e.to_dict() for e in response.errors]},
    }


def _refuse(message: str, field: str | None = None) -> JobError:
    error = Error(code=ERROR_CODE_INVALID, message=message, field=field, is_caller_error=True)
    return JobError([error], set_is_caller_error_to=None)


def _open_envelope(
    name: str, body: Body | None, primary_service: str
) -> tuple[Body, Control, ActionResponse]:
    """The primary's body, control and response from the envelope of auxiliary job
    ``name``; ``JobError`` (``INVALID``) if it is not a well-formed envelope for it."""
    try:
        envelope: _Envelope = validator_for(_Envelope).validate(body)
    except ValidationError as error:
        problems = errors_from_validation(error, is_caller_error=True, prefix="actions.0.body")
        raise JobError(problems, set_is_caller_error_to=None) from None
    if envelope["service"] != primary_service:
        raise _refuse(
            f"This server runs the auxiliary actions of service {primary_service!r}, not of "
            f"{envelope['service']!r}",
            "actions.0.body.service",
        )
    if name.partition(":")[0] != envelope["action"]:
        raise _refuse(
            f"The auxiliary action {name!r} does not follow {envelope['action']!r}",
            "actions.0.body.action",
        )
    try:
        errors = [Error.from_dict(error) for error in envelope["response"]["errors"]]
    except (KeyError, TypeError) as error:
        raise _refuse(f"Bad primary error: {error}", "actions.0.body.response.errors") from None
    response = ActionResponse(envelope["action"], errors, envelope["response"]["body"])
    return envelope["body"], envelope["control"], response


class QueuedAuxiliaryRequest(AuxiliaryActionRequest):
    """The request class of auxiliary servers: for an auxiliary action, built from the
    envelope of the job's action (see the module documentation)."""

    __slots__ = ()

    auxiliary_names: ClassVar[frozenset[str]] = frozenset()
    primary_service: ClassVar[str] = ""

    def __init__(self, action: str, body: Body | None = None, *args: Any, **kwargs: Any) -> None:
        if action not in self.auxiliary_names:
            super().__init__(action, body, *args, **kwargs)
            return
        body, control, response = _open_envelope(action, body, self.primary_service)
        super().__init__(action, body, *args, **kwargs)
        self.control = control
        self.primary_response = response


def auxiliary_server(server_class: ServerClass, service_name: str | None = None) -> ServerClass:
    """The server class that runs the auxiliary actions of ``server_class`` sent by a
    :class:`QueuedAuxProcessor` (with the same ``service_name``, by default
    ``"<service>.auxiliary"``).

    It is a subclass of ``server_class`` (same settings class, ``setup`` and ``teardown``,
    so its auxiliary actions find what they would find in the primary server) that serves
    the auxiliary service: it runs auxiliary jobs, as ordinary jobs (through the job and
    action middleware, with request logging, metrics and events), and answers
    ``status``; nothing else. Run it with the same settings as the primary, in processes
    of its own; assign it to a module-level name, so that it can be imported by path.
    """
    primary = server_class.service_name
    entries = auxiliary_entries(
        primary,
        server_class.auxiliary_action_map,
        {**server_class.action_class_map, "status": None, "introspect": None},
    )
    actions: dict[str, ActionType] = {
        entry.name: entry.action for group in entries.values() for entry in group
    }
    names = frozenset(actions)
    request_class = type(
        f"{server_class.__name__}AuxiliaryRequest",
        (QueuedAuxiliaryRequest,),
        {"__slots__": (), "auxiliary_names": names, "primary_service": primary},
    )

    def introspectable_actions(self: Any, only: str | None = None) -> dict[str, ActionType]:
        described: dict[str, ActionType] = server_class.introspectable_actions(self, only)
        return {
            name: action
            for name, action in described.items()
            if name.partition("[")[0] not in names
        }

    name = f"{server_class.__name__}Auxiliary"
    namespace = {
        "service_name": service_name or auxiliary_service_name(primary),
        "description": f"Runs the queued auxiliary actions of service {primary!r}.",
        "action_class_map": actions,
        "auxiliary_action_map": {},
        "request_class": request_class,
        "introspectable_actions": introspectable_actions,
        "__module__": server_class.__module__,
        "__qualname__": name,
    }
    return cast(ServerClass, type(name, (server_class,), namespace))


class QueuedAuxProcessorSettings(BaseModel):
    """``service_name``: the service the auxiliary jobs are sent to (by default
    ``"<service>.auxiliary"``); ``client``: the client settings of that service (its
    transport; by default its entry in the server's ``client_routing``, else the default
    client settings); ``message_expiry_in_seconds``: how long a job may wait for an
    auxiliary server before the transport drops it (default one day)."""

    model_config = ConfigDict(extra="forbid")

    service_name: Annotated[str, Field(min_length=1)] | None = None
    client: ClientSettings | None = None
    message_expiry_in_seconds: Annotated[float, Field(gt=0)] = 86400.0


class QueuedAuxProcessor(AuxProcessor):
    """Sends each auxiliary call as a job to the auxiliary service, to be run by a server
    of :func:`auxiliary_server` (see :class:`QueuedAuxProcessorSettings`).

    The job is sent in the server's thread after the primary's response has gone out (and,
    on an acknowledged transport, after the primary request has been acknowledged): a
    process that dies between the two loses the call. A call that cannot be sent (full
    queue, database down, too large) is logged at ERROR with its envelope, censored, and
    counted as ``server.auxiliary.dropped``. Nothing is held in the process, so shutdown
    has nothing to wait for.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = QueuedAuxProcessorSettings

    def __init__(
        self,
        service_name: str | None = None,
        client: ClientSettings | dict[str, Any] | None = None,
        message_expiry_in_seconds: float = 86400.0,
    ) -> None:
        super().__init__()
        self.settings = QueuedAuxProcessorSettings.model_validate(
            {
                "service_name": service_name,
                "client": client,
                "message_expiry_in_seconds": message_expiry_in_seconds,
            }
        )
        self.service_name = service_name or ""
        self.client: Client | None = None

    def initialize(self, server: ServerInterface) -> None:
        super().initialize(server)
        settings = self.settings
        self.service_name = settings.service_name or auxiliary_service_name(server.service_name)
        client_settings = (
            settings.client
            or server.settings.client_routing.get(self.service_name)
            or ClientSettings.from_dict({})
        )
        self.client = Client({self.service_name: client_settings})

    def process(self, call: AuxiliaryCall) -> None:
        server, client = self.server, self.client
        assert server is not None, "initialize() was not called"
        assert client is not None, "initialize() was not called"
        body = _envelope(call, server.service_name)
        try:
            client.send_request(
                self.service_name,
                [{"action": call.name, "body": body}],
                context={**call.request.context, "calling_service": server.service_name},
                message_expiry_in_seconds=self.settings.message_expiry_in_seconds,
                suppress_response=True,
            )
        except Exception as error:
            logger.error(
                "Dropped %r: it could not be sent to service %r (%s). Its envelope: %s",
                call,
                self.service_name,
                error,
                RecursivelyCensoredDictWrapper(body, server.settings.extra_fields_to_redact),
            )
            self._count_dropped(call)

    def shutdown(self, timeout: float) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def __repr__(self) -> str:
        return f"<QueuedAuxProcessor to service {self.service_name or '?'!r}>"
