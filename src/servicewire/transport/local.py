"""The in-process transport: the client runs the server in its own thread.

``LocalClientTransport`` builds the server from ``server_class`` and ``server_settings`` and,
for each request, runs it through the server's real request path (validation, middleware,
logging) before the send returns. Nothing is serialized: the server sees the client's
objects, and the caller gets the action's. Useful for tests and for running a service as a
library.

``AsyncLocalClientTransport``, its asyncio twin (what ``AsyncClient`` uses for a service
configured with ``LocalClientTransport``), runs each request through the same server in a
worker thread, so that actions never block the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar, cast

from pydantic import BaseModel, ConfigDict, field_validator

from servicewire.errors import ImproperlyConfigured, MessageReceiveError, MessageReceiveTimeout
from servicewire.metrics import MetricsRecorder
from servicewire.settings import import_path
from servicewire.transport.base import (
    _NO_METRICS,
    AsyncClientTransport,
    ClientTransport,
    MessageDetails,
    ReceivedMessage,
    ServerTransport,
)

__all__ = ["AsyncLocalClientTransport", "LocalClientTransport", "LocalServerTransport"]


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


# ReceivedMessage(...) without the Python-level __new__ a named tuple has: two per request.
_message = cast(
    "Callable[[tuple[Any, Any, Any]], ReceivedMessage]", partial(tuple.__new__, ReceivedMessage)
)


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
    async_transport_class: ClassVar[str | None] = (
        "servicewire.transport.local:AsyncLocalClientTransport"
    )

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

    @property
    def requests_outstanding(self) -> int:
        """The responses this thread has not received yet (ready as soon as sent)."""
        return len(self._state.responses)

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        """Handle the request in this thread; the response is ready when this returns."""
        self._state.request = _message((request_id, meta, body))
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
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        *,
        receive_follows: bool = False,
    ) -> None:
        self._state.responses.append(_message((request_id, meta, body)))

    def message_details(self, request_id: int, meta: dict[str, Any]) -> MessageDetails:
        """No queue; each request is delivered once, in the caller's thread."""
        return MessageDetails(request_id, None, 1)

    def close(self) -> None:
        self.server.teardown()


class _LocalServerFailure(MessageReceiveError):
    """The in-process server raised while handling a request: only that request's call
    fails (the asyncio client routes errors by their ``request_id``)."""

    def __init__(self, message: str, request_id: int) -> None:
        super().__init__(message)
        self.request_id = request_id


class AsyncLocalClientTransport(AsyncClientTransport):
    """The asyncio twin of :class:`LocalClientTransport`, with the same settings.

    Sending a request starts its handling by the in-process server in a worker thread
    (:func:`asyncio.to_thread`) and returns at once, as a network send would; the replies are
    received as their jobs finish, each with its request id, so concurrent calls run
    concurrently (up to the size of the event loop's default executor). If the server raises
    while handling a request, receiving its reply raises ``MessageReceiveError`` (carrying
    the request id and the server's exception as its cause).

    The server is built, and its ``setup()`` run, when the transport is made; :meth:`aclose`
    waits for the requests the server is still handling, then runs its ``teardown()``.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = LocalTransportSettings

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder = _NO_METRICS,
        server_class: str | type | None = None,
        server_settings: str | dict[str, Any] | BaseModel | None = None,
    ) -> None:
        super().__init__(service_name, metrics)
        # The sync transport's per-thread slots keep each worker thread's request and reply
        # apart; this class only moves them between the threads and the event loop.
        self._in_process = LocalClientTransport(
            service_name, metrics, server_class=server_class, server_settings=server_settings
        )
        self.server = self._in_process.server
        self._replies: deque[ReceivedMessage | _LocalServerFailure] = deque()
        self._in_flight: set[asyncio.Future[list[ReceivedMessage]]] = set()
        self._replies_changed = asyncio.Event()

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        """Start handling the request in a worker thread; return without waiting for it."""
        handling = asyncio.ensure_future(
            asyncio.to_thread(self._handle, request_id, meta, body, message_expiry_in_seconds)
        )
        self._in_flight.add(handling)
        handling.add_done_callback(partial(self._handled, request_id))

    def _handle(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None,
    ) -> list[ReceivedMessage]:
        """In a worker thread: run the request through the server, return its replies."""
        self._in_process.send_request_message(request_id, meta, body, message_expiry_in_seconds)
        replies = []
        while (reply := self._in_process.receive_response_message()).request_id is not None:
            replies.append(reply)
        return replies

    def _handled(self, request_id: int, handling: asyncio.Future[list[ReceivedMessage]]) -> None:
        self._in_flight.discard(handling)
        if handling.cancelled():
            return
        error = handling.exception()
        if error is None:
            self._deliver(handling.result())
        else:
            failure = _LocalServerFailure(
                f"The in-process server of service {self.service_name!r} failed while "
                f"handling request {request_id}: {error!r}",
                request_id,
            )
            failure.__cause__ = error
            self._deliver([failure])

    def _deliver(self, replies: Iterable[ReceivedMessage | _LocalServerFailure]) -> None:
        self._replies.extend(replies)
        self._replies_changed.set()

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """Wait for the next reply (without a timeout, for as long as the server works);
        ``(None, None, None)`` if no request is being handled and no reply is waiting."""
        loop = asyncio.get_running_loop()
        deadline = (
            None if receive_timeout_in_seconds is None else loop.time() + receive_timeout_in_seconds
        )
        while not self._replies:
            if not self._in_flight:
                return ReceivedMessage(None, None, None)
            self._replies_changed.clear()
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(self._replies_changed.wait(), remaining)
            except asyncio.TimeoutError:
                raise MessageReceiveTimeout(
                    f"No reply from the in-process server of service {self.service_name!r} "
                    f"within {receive_timeout_in_seconds} seconds"
                ) from None
        reply = self._replies.popleft()
        if isinstance(reply, _LocalServerFailure):
            raise reply
        return reply

    async def aclose(self) -> None:
        if self._in_flight:
            await asyncio.wait(list(self._in_flight))
        await asyncio.to_thread(self._in_process.close)


class LocalServerTransport(ServerTransport):
    """A placeholder for server settings used with :class:`LocalClientTransport`, which
    replaces it; it takes no settings and cannot receive anything itself."""

    def receive_request_message(self) -> ReceivedMessage:
        raise MessageReceiveTimeout(
            "LocalServerTransport receives nothing; call the server through LocalClientTransport"
        )

    def send_response_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        *,
        receive_follows: bool = False,
    ) -> None:
        raise ImproperlyConfigured("LocalServerTransport cannot send responses")
