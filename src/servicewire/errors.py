"""The exception hierarchy and the wire error codes.

Everything servicewire raises derives from :class:`ServiceWireError`, split by the side that
raises it: client errors, server errors (flow control for action and job code), transport
errors and serializer errors. The error-code constants are the machine-readable codes carried
in :class:`~servicewire.types.Error` objects on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicewire.types import ActionResponse, Error

__all__ = [
    "ERROR_CODE_ACCESS_DENIED",
    "ERROR_CODE_ACTION_TIMEOUT",
    "ERROR_CODE_INVALID",
    "ERROR_CODE_JOB_TIMEOUT",
    "ERROR_CODE_MISSING",
    "ERROR_CODE_NOT_AUTHORIZED",
    "ERROR_CODE_NOT_FOUND",
    "ERROR_CODE_RESPONSE_NOT_SERIALIZABLE",
    "ERROR_CODE_RESPONSE_TOO_LARGE",
    "ERROR_CODE_SERVER_ERROR",
    "ERROR_CODE_UNKNOWN",
    "ActionError",
    "CallActionError",
    "CallJobError",
    "ClientError",
    "ConnectionError",
    "HarakiriInterrupt",
    "ImproperlyConfigured",
    "InvalidExpansionKey",
    "InvalidField",
    "InvalidMessage",
    "InvalidMessageError",
    "InvalidSettings",
    "JobError",
    "MessageReceiveError",
    "MessageReceiveTimeout",
    "MessageSendError",
    "MessageSendTimeout",
    "MessageTooLarge",
    "PySOAClientError",
    "PySOAError",
    "PySOAServerError",
    "PySOATransportError",
    "ResponseValidationError",
    "SerializationError",
    "ServerError",
    "ServiceWireError",
    "TransientPySOATransportError",
    "TransientTransportError",
    "TransportError",
]

ERROR_CODE_SERVER_ERROR = "SERVER_ERROR"
ERROR_CODE_UNKNOWN = "UNKNOWN"
ERROR_CODE_INVALID = "INVALID"
ERROR_CODE_MISSING = "MISSING"
ERROR_CODE_ACTION_TIMEOUT = "ACTION_TIMEOUT"
ERROR_CODE_JOB_TIMEOUT = "JOB_TIMEOUT"
ERROR_CODE_RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
ERROR_CODE_RESPONSE_NOT_SERIALIZABLE = "RESPONSE_NOT_SERIALIZABLE"
ERROR_CODE_NOT_FOUND = "NOT_FOUND"
ERROR_CODE_NOT_AUTHORIZED = "NOT_AUTHORIZED"
ERROR_CODE_ACCESS_DENIED = "ACCESS_DENIED"


class ServiceWireError(Exception):
    """Base of every exception servicewire raises."""


class InvalidSettings(ServiceWireError, ValueError):
    """Settings failed validation; the message names every offending key."""


# --- client side -------------------------------------------------------------------------


class ClientError(ServiceWireError):
    """Base of client-side errors other than transport errors."""


def _describe_error(error: Error) -> str:
    where = f" (field {error.field})" if error.field else ""
    return f"{error.code}: {error.message}{where}"


class CallActionError(ClientError):
    """A job response held one or more action errors.

    ``actions`` lists the :class:`~servicewire.types.ActionResponse` objects that carry errors.
    """

    def __init__(self, actions: Sequence[ActionResponse] | None = None) -> None:
        self.actions: list[ActionResponse] = list(actions or [])
        super().__init__(self.actions)

    def __str__(self) -> str:
        lines = [
            f"{action.action}: {_describe_error(error)}"
            for action in self.actions
            for error in action.errors
        ]
        return "Error calling action(s): " + ("; ".join(lines) if lines else "(no errors)")


class CallJobError(ClientError):
    """A job response held one or more job-level errors, listed in ``errors``."""

    def __init__(self, errors: Sequence[Error] | None = None) -> None:
        self.errors: list[Error] = list(errors or [])
        super().__init__(self.errors)

    def __str__(self) -> str:
        lines = [_describe_error(error) for error in self.errors]
        return "Error executing job: " + ("; ".join(lines) if lines else "(no errors)")


class ImproperlyConfigured(ClientError):
    """The client is not configured to call the requested service."""


class InvalidExpansionKey(ClientError):
    """An expansion was requested that the client's expansion settings do not define.

    The message is PySOA's, ``Invalid key in expansion request: KEY``; ``key`` is the unknown
    name and ``expansion_type`` the type it was looked up in (``None`` for an unknown type).
    """

    def __init__(
        self, message: str, *, key: str | None = None, expansion_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.key = key
        self.expansion_type = expansion_type


# --- server side -------------------------------------------------------------------------


class ServerError(ServiceWireError):
    """Base of server-side errors other than transport errors."""


def _mark_caller_errors(errors: Iterable[Error], flag: bool | None) -> list[Error]:
    errors = list(errors)
    if flag is not None:
        for error in errors:
            # In place, as PySOA does: code that keeps the Error it raised sees the flag the
            # caller receives. ``Error`` is frozen for everyone else.
            if error.is_caller_error is not flag:
                object.__setattr__(error, "is_caller_error", flag)
    return errors


class ActionError(ServerError):
    """Raised by action code or middleware to answer the action with ``errors``.

    Unless ``set_is_caller_error_to`` is ``None``, every error's ``is_caller_error`` is set to
    it (default ``True``: an action error is usually the caller's fault), on the given
    ``Error`` objects themselves.
    """

    def __init__(self, errors: Sequence[Error], set_is_caller_error_to: bool | None = True) -> None:
        self.errors: list[Error] = _mark_caller_errors(errors, set_is_caller_error_to)
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "; ".join(_describe_error(error) for error in self.errors)


class JobError(ServerError):
    """Raised by middleware or the server to answer the whole job with ``errors``.

    Unless ``set_is_caller_error_to`` is ``None``, every error's ``is_caller_error`` is set to
    it (default ``False``), on the given ``Error`` objects themselves.
    """

    def __init__(
        self, errors: Sequence[Error], set_is_caller_error_to: bool | None = False
    ) -> None:
        self.errors: list[Error] = _mark_caller_errors(errors, set_is_caller_error_to)
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "; ".join(_describe_error(error) for error in self.errors)


class ResponseValidationError(ServerError):
    """An action's response body failed its ``response_schema``: a server-side bug."""

    def __init__(self, action: str, errors: Sequence[Error]) -> None:
        self.action = action
        self.errors: list[Error] = list(errors)
        super().__init__(action, self.errors)

    def __str__(self) -> str:
        problems = "; ".join(_describe_error(error) for error in self.errors)
        return f"Response of action {self.action!r} failed validation: {problems}"


class HarakiriInterrupt(BaseException):
    """Raised inside a job that ran past the harakiri timeout.

    It derives from ``BaseException`` so that ``except Exception`` in service code cannot
    swallow it. Never catch it.
    """


# --- transport ---------------------------------------------------------------------------


class TransportError(ServiceWireError):
    """Base of transport errors."""


class TransientTransportError(TransportError):
    """A failure to send or receive that is usually transient and not a code problem."""


class ConnectionError(TransientTransportError):  # noqa: A001 - the reference's name
    """The transport could not obtain a connection to send or receive."""


class MessageSendError(TransientTransportError):
    """Sending a message failed (for example, the queue stayed full)."""


class MessageSendTimeout(TransientTransportError):
    """Sending a message timed out."""


class MessageReceiveError(TransientTransportError):
    """Receiving a message failed."""


class MessageReceiveTimeout(TransientTransportError):
    """No message arrived within the receive timeout.

    On a server this is ordinary control flow (it runs its idle actions); on a client it means
    the service did not answer in time.
    """


class MessageTooLarge(TransportError):
    """A serialized message exceeds the transport's ``maximum_message_size_in_bytes``."""

    def __init__(self, message_size_in_bytes: int, *args: Any) -> None:
        self.message_size_in_bytes = message_size_in_bytes
        super().__init__(*(args or (f"Message of {message_size_in_bytes} bytes is too large",)))


class InvalidMessageError(TransportError):
    """A message cannot be sent, or one was received that cannot be used.

    A server transport raising it for a received message sets what it could read of the
    message, ``request_id`` and ``meta``, so that the server can answer the sender when the
    reply route is known.
    """

    def __init__(
        self,
        *args: Any,
        request_id: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(*args)
        self.request_id = request_id
        self.meta = meta


# --- serialization -----------------------------------------------------------------------


class SerializationError(ServiceWireError):
    """Base of serialization errors."""


class InvalidField(SerializationError):
    """A value in a message cannot be serialized."""


class InvalidMessage(SerializationError):
    """Bytes cannot be deserialized into a message."""


# --- PySOA's names -----------------------------------------------------------------------
# The same classes under the names PySOA gave them, so that ``except PySOAError`` in code
# moved from PySOA catches what servicewire raises.

PySOAError = ServiceWireError
PySOAClientError = ClientError
PySOAServerError = ServerError
PySOATransportError = TransportError
TransientPySOATransportError = TransientTransportError
