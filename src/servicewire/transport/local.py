"""The in-process transport: the client runs the server in its own thread.

``LocalClientTransport`` builds the server from ``server_class`` and ``server_settings`` and,
for each request, runs it through the server's real request path (validation, middleware,
logging) before the send returns. Nothing is serialized: the server sees the client's
objects, and the caller gets the action's. Useful for tests and for running a service as a
library.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from servicewire.errors import ImproperlyConfigured, MessageReceiveTimeout
from servicewire.metrics import MetricsRecorder
from servicewire.settings import import_path
from servicewire.transport.base import (
    _NO_METRICS,
    ClientTransport,
    ReceivedMessage,
    ServerTransport,
)

__all__ = ["LocalClientTransport", "LocalServerTransport"]


class LocalTransportSettings(BaseModel):
    """``server_class``: a ``Server`` subclass or its ``"module:Class"`` path;
    ``server_settings``: the server's settings dict or its ``"module:VARIABLE"`` path."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    server_class: str | type
    server_settings: str | dict[str, Any] | BaseModel = {}

    @field_validator("server_class")
    @classmethod
    def _importable_class(cls, value: str | type) -> str | type:
        try:
            resolved = import_path(value) if isinstance(value, str) else value
        except ImportError as error:
            raise ValueError(str(error)) from None
        if not isinstance(resolved, type) or not hasattr(resolved, "handle_next_request"):
            raise ValueError(f"{value!r} is not a Server class")
        return value


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.request: ReceivedMessage | None = None
        self.responses: deque[ReceivedMessage] = deque()


class LocalClientTransport(ClientTransport, ServerTransport):
    """A client transport that contains the server it calls.

    The server is built once, with ``setup()`` run; :meth:`close` runs its ``teardown()``.
    Each thread has its own request and response slots, so a client using this transport
    may be shared by threads (the server then handles their jobs concurrently).
    """

    settings_schema: ClassVar[type[BaseModel] | None] = LocalTransportSettings

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder = _NO_METRICS,
        server_class: str | type | None = None,
        server_settings: str | dict[str, Any] | BaseModel | None = None,
    ) -> None:
        ClientTransport.__init__(self, service_name, metrics)
        self.instance_index = 1
        if server_class is None:
            raise ImproperlyConfigured("LocalClientTransport needs server_class")
        resolved_class = (
            import_path(server_class) if isinstance(server_class, str) else server_class
        )
        settings = (
            import_path(server_settings) if isinstance(server_settings, str) else server_settings
        )
        self.server: Any = resolved_class(settings or {})
        # The server receives and answers through this transport, not one of its settings'.
        self.server.transport = self
        self.server.setup()
        self._state = _ThreadState()

    # client side

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        """Handle the request in this thread; the response is ready when this returns."""
        self._state.request = ReceivedMessage(request_id, meta, body)
        self.server.handle_next_request()

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """Return the next response of this thread, or ``(None, None, None)`` if none is
        waiting (it never blocks: responses exist as soon as requests are sent)."""
        responses = self._state.responses
        if responses:
            return responses.popleft()
        return ReceivedMessage(None, None, None)

    # server side

    def receive_request_message(self) -> ReceivedMessage:
        state = self._state
        request = state.request
        if request is None:
            raise MessageReceiveTimeout("No local request is waiting")
        state.request = None
        return request

    def send_response_message(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        self._state.responses.append(ReceivedMessage(request_id, meta, body))

    def close(self) -> None:
        self.server.teardown()


class LocalServerTransport(ServerTransport):
    """A placeholder for server settings used with :class:`LocalClientTransport`, which
    replaces it; it takes no settings and cannot receive anything itself."""

    def receive_request_message(self) -> ReceivedMessage:
        raise MessageReceiveTimeout(
            "LocalServerTransport receives nothing; call the server through LocalClientTransport"
        )

    def send_response_message(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        raise ImproperlyConfigured("LocalServerTransport cannot send responses")
