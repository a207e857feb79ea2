"""Server events: listeners that observe what a server does, without wrapping it.

A listener is any callable taking one :class:`ServerEvent`. Register it by event name on a
server class (``UsersServer.events.add_listener("job_error", alert)``: every server of that
class and of its subclasses) or on one server (``server.events.add_listener(...)``). Each
server class has its own registry; ``Server.events`` reaches every server in the process.

Listeners run in the server's thread, synchronously, in the order they were added (those of
base classes first, then those of the class, then those of the server); a listener added
twice, or at two levels, runs once. A listener that raises is logged (and counted as
``server.error.event_listener``) and the request goes on as if it had not. Listeners see the
server's own objects: they must not change them, and should be quick.

Unlike middleware, a listener cannot change what happens: it is told. A server with no
listener anywhere in its chain pays one attribute test per event site.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, NamedTuple

from servicewire.metrics import MetricName
from servicewire.transport.base import MessageDetails
from servicewire.types import ActionResponse, Error, JobResponse

if TYPE_CHECKING:
    from servicewire.server.interface import ServerInterface
    from servicewire.server.received import ReceivedRequest
    from servicewire.server.request import EnrichedActionRequest
    from servicewire.transport.base import ServerTransport

__all__ = ["EVENT_NAMES", "Listener", "ServerEvent", "ServerEvents"]

EVENT_NAMES = frozenset(
    {
        "job_received",
        "job_validated",
        "action_call",
        "action_return",
        "action_error",
        "job_response",
        "job_error",
        "request_bad_message",
        "server_idle",
        "server_start",
        "server_stop",
    }
)
"""The events a server emits (the events guide says when, with which fields set)."""

_logger = logging.getLogger("servicewire.server.events")

# The transport's details of the request the current thread is handling, while listeners
# are registered (set when the job is received, reset when its handling ends).
_current_message: ContextVar[MessageDetails | None] = ContextVar(
    "servicewire_current_message", default=None
)


class ServerEvent(NamedTuple):
    """What a listener is told (immutable).

    ``name`` is the event; ``server`` the server emitting it; ``message`` the transport's
    details of the request being handled (request id, queue, delivery attempt; ``None``
    outside a request received from a transport). The other fields are set where the event
    has them: ``job_request`` (the job as received, not yet validated, for ``job_received``,
    ``job_response`` and ``job_error``; the validated ``EnrichedJobRequest`` for
    ``job_validated``), ``job_response``, ``action_request``, ``action_response``, and
    ``error`` (the exception of ``request_bad_message``).
    """

    name: str
    server: ServerInterface
    message: MessageDetails | None = None
    job_request: Any = None
    job_response: JobResponse | None = None
    action_request: EnrichedActionRequest | None = None
    action_response: ActionResponse | None = None
    error: BaseException | None = None

    @property
    def request_id(self) -> int | None:
        """The id of the request being handled, if it came from a transport."""
        return None if self.message is None else self.message.request_id

    @property
    def errors(self) -> list[Error]:
        """The errors of the action (action events) or of the job (job events)."""
        if self.action_response is not None:
            return self.action_response.errors
        if self.job_response is not None:
            return self.job_response.errors
        return []


Listener = Callable[[ServerEvent], object]
"""A listener: called with each event it is registered for; its return value is ignored."""


class ServerEvents:
    """The listeners of a server class or of one server, by event name.

    ``active`` is true when this registry, or one it inherits from, has any listener: the
    server tests it before building an event.
    """

    __slots__ = (
        "__weakref__",
        "_children",
        "_listeners",
        "_merged",
        "_parent",
        "_server",
        "active",
        "owner",
    )

    def __init__(
        self,
        parent: ServerEvents | None = None,
        owner: str = "",
        server: ServerInterface | None = None,
    ) -> None:
        self.owner = owner
        self._parent = parent
        self._listeners: dict[str, list[Listener]] = {}
        self._children: weakref.WeakSet[ServerEvents] = weakref.WeakSet()
        self._merged: dict[str, tuple[Listener, ...]] = {}
        self.active = False
        self._server = server
        if parent is not None:
            parent._children.add(self)
        self._refresh()

    @classmethod
    def of_class(cls, server_class: type) -> ServerEvents:
        """A new registry for ``server_class``, inheriting the listeners of its nearest base
        class that has a registry."""
        parent = next(
            (
                vars(base)["events"]
                for base in server_class.__mro__[1:]
                if isinstance(vars(base).get("events"), ServerEvents)
            ),
            None,
        )
        return cls(parent, owner=server_class.__qualname__)

    def add_listener(self, name: str, listener: Listener) -> None:
        """Call ``listener`` with every ``name`` event, after the listeners already added.

        Adding a listener a second time changes nothing. Raises ``ValueError`` for a name
        that is not one of :data:`EVENT_NAMES`.
        """
        if name not in EVENT_NAMES:
            raise ValueError(
                f"{name!r} is not a server event; the events are: {', '.join(sorted(EVENT_NAMES))}"
            )
        listeners = self._listeners.setdefault(name, [])
        if listener not in listeners:
            listeners.append(listener)
            self._refresh()

    def remove_listener(self, name: str, listener: Listener) -> None:
        """Stop calling ``listener`` for ``name`` events (nothing happens if it was not
        added here)."""
        listeners = self._listeners.get(name)
        if listeners and listener in listeners:
            listeners.remove(listener)
            self._refresh()

    def listeners(self, name: str) -> tuple[Listener, ...]:
        """The listeners of ``name`` events, in the order they are called."""
        return self._merged.get(name, ())

    def _refresh(self) -> None:
        inherited = self._parent._merged if self._parent is not None else {}
        merged: dict[str, tuple[Listener, ...]] = {}
        for name in EVENT_NAMES:
            chain = list(inherited.get(name, ()))
            chain.extend(item for item in self._listeners.get(name, ()) if item not in chain)
            if chain:
                merged[name] = tuple(chain)
        self._merged = merged
        self.active = bool(merged)
        for child in list(self._children):
            child._refresh()

    # --- emitting (called by the server) ---------------------------------------------------

    def emit(self, name: str, **fields: Any) -> None:
        """Call the listeners of ``name`` with a :class:`ServerEvent` carrying ``fields``;
        a listener that raises is logged and the others still run."""
        listeners = self._merged.get(name)
        if not listeners:
            return
        server = self._server
        assert server is not None, "only a server's own registry emits events"
        event = ServerEvent(name, server, _current_message.get(), **fields)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                _logger.exception(
                    "Listener %r of the %r event of service %r raised; ignoring it",
                    listener,
                    name,
                    server.service_name,
                )
                if server.metrics.enabled:
                    server.metrics.counter(
                        MetricName.SERVER_ERROR_EVENT_LISTENER, tags={"event": name}
                    )

    def job_received(
        self, transport: ServerTransport, request: ReceivedRequest
    ) -> Token[MessageDetails | None]:
        """Note the transport's details of a request for the events of its handling, and
        emit ``job_received``. Pass the result to :meth:`request_done` when done."""
        try:
            details = transport.message_details(request.request_id, request.meta)
        except Exception:
            _logger.exception("The transport could not describe request %s", request.request_id)
            details = MessageDetails(request.request_id, None, None)
        token = _current_message.set(details)
        self.emit("job_received", job_request=request.body)
        return token

    def job_done(self, request: ReceivedRequest, response: JobResponse) -> None:
        """Emit ``job_error`` (the response carries job errors) or ``job_response``, with
        the response the caller was sent."""
        name = "job_error" if response.errors else "job_response"
        if name in self._merged:
            self.emit(name, job_request=request.body, job_response=response)

    @staticmethod
    def request_done(token: Token[MessageDetails | None]) -> None:
        _current_message.reset(token)

    def action_done(self, request: EnrichedActionRequest, response: ActionResponse) -> None:
        """Emit ``action_error`` (the response carries errors) or ``action_return``."""
        name = "action_error" if response.errors else "action_return"
        self.emit(name, action_request=request, action_response=response)

    def __repr__(self) -> str:
        counts = {name: len(listeners) for name, listeners in self._merged.items()}
        return f"<ServerEvents of {self.owner or '?'}: {counts}>"
