"""The transport interface: the extension point between clients, servers and the wire.

A transport moves message dicts. The client side sends a request
``(request_id, meta, body)`` and later receives responses; the server side receives requests
and sends each response back with the ``meta`` it received, which carries whatever the
transport needs to route the reply (a reply queue, the framing to answer in).

To add a transport, subclass :class:`ClientTransport` and :class:`ServerTransport` (one class
may be both). Give the class a ``settings_schema`` (a pydantic model of its keyword
arguments) to have its settings validated at start-up. Construct transports through
settings: ``{"path": "yourmodule:YourClientTransport", "kwargs": {...}}``.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from servicewire.errors import ImproperlyConfigured
from servicewire.metrics import MetricsRecorder, NoOpMetricsRecorder

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "AsyncClientTransport",
    "ClientTransport",
    "MessageDetails",
    "ReceivedMessage",
    "ServerTransport",
    "Transport",
    "request_sender",
    "response_sender",
]

_NO_METRICS = NoOpMetricsRecorder()
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


class ReceivedMessage(NamedTuple):
    """A message as a transport delivers it: ``(request_id, meta, body)``.

    A client transport returns ``ReceivedMessage(None, None, None)`` when it has no request
    outstanding.
    """

    request_id: int | None
    meta: dict[str, Any] | None
    body: dict[str, Any] | None


class MessageDetails(NamedTuple):
    """What a server transport can tell about one request it delivered, for observers
    (the server's event listeners).

    ``queue`` names where the request was received from (``None`` when there is no queue,
    as in-process); ``delivery_attempt`` is 1 for the first delivery and more when the
    transport delivers a request again after a server failed to finish it (``None`` when
    the transport cannot tell); ``extra`` holds details particular to the transport (its
    documentation lists them).
    """

    request_id: int
    queue: str | None
    delivery_attempt: int | None
    extra: Mapping[str, Any] = _NO_EXTRA


class Transport:
    """What every transport has: the service it serves or calls, and a metrics recorder."""

    settings_schema: ClassVar[type[BaseModel] | None] = None
    """A pydantic model of the constructor's keyword arguments, validated with the settings."""

    def __init__(self, service_name: str, metrics: MetricsRecorder = _NO_METRICS) -> None:
        self.service_name = service_name
        self.metrics = metrics

    def close(self) -> None:
        """Release connections and other resources."""


class ClientTransport(Transport, abc.ABC):
    """The client side: send requests, receive their responses.

    ``async_transport_class`` names (as ``"module:Class"``) the :class:`AsyncClientTransport`
    that ``AsyncClient`` uses in place of this class, with the same keyword arguments.
    """

    async_transport_class: ClassVar[str | None] = None

    @property
    def requests_outstanding(self) -> int:
        """How many responses the calling thread still expects (a transport that does not
        count them raises ``NotImplementedError``)."""
        raise NotImplementedError(f"{type(self).__name__} does not count outstanding requests")

    @abc.abstractmethod
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
        """Send a request.

        ``expects_reply`` is ``False`` for a request sent without a reply coming (the job's
        ``control["suppress_response"]``): the caller says so, and the transport need not
        read it from the body. ``receive_follows`` is ``True`` when the caller's next call
        on this thread is :meth:`receive_response_message`, at once (a call that waits for
        its reply): a transport may then hold the request back and send it together with
        the wait for the reply. A transport whose method does not take these keywords still
        works: callers that use :func:`request_sender` leave them out for such a transport.

        Raises ``ConnectionError``, ``MessageSendError``, ``MessageSendTimeout`` or
        ``MessageTooLarge``.
        """

    @abc.abstractmethod
    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """Wait for the next response to a request this thread sent.

        Raises ``MessageReceiveTimeout`` if none arrives in time, or ``ConnectionError`` /
        ``MessageReceiveError``.
        """


class ServerTransport(Transport, abc.ABC):
    """The server side: receive requests, send responses.

    ``instance_index`` is the 1-based index of this process among a service's forked
    processes.
    """

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder = _NO_METRICS,
        instance_index: int = 1,
    ) -> None:
        super().__init__(service_name, metrics)
        self.instance_index = instance_index

    def enable_concurrent_requests(self, workers: int) -> None:
        """Get ready for a server that handles up to ``workers`` requests at once.

        Called once, before the first receive, by a server with the ``workers`` setting above
        1: from then on one thread calls :meth:`receive_request_message` while others call
        :meth:`send_response_message` and :meth:`complete_request_message` for the requests
        they handle. Transports that support it override this method; the default refuses.
        """
        raise ImproperlyConfigured(
            f"{type(self).__qualname__} does not support concurrent requests (the server's "
            f"workers setting is {workers}; use 1, or a transport that supports more)"
        )

    @abc.abstractmethod
    def receive_request_message(self) -> ReceivedMessage:
        """Wait for the next request.

        Raises ``MessageReceiveTimeout`` when none arrives within the receive timeout (the
        server then runs its idle actions and asks again). A message that arrived but cannot
        be used raises ``InvalidMessageError`` carrying whatever could be read of it, so that
        the server can answer the sender.
        """

    @abc.abstractmethod
    def send_response_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        *,
        receive_follows: bool = False,
    ) -> None:
        """Send the response to a request, with the ``meta`` its request arrived with.

        ``receive_follows`` is ``True`` when the caller's next call on this thread is
        :meth:`receive_request_message`, at once (a serving loop with nothing to run in
        between): a transport may then hold the response back and send it together with
        that receive. A transport that holds one must send it from :meth:`close` too, if no
        receive came. A transport whose method does not take the keyword still works:
        callers that use :func:`response_sender` leave it out for such a transport.

        Raises ``MessageTooLarge`` or ``InvalidField`` (the server then sends an error reply
        instead) and the transient transport errors.
        """

    def complete_request_message(self, request_id: int, meta: dict[str, Any]) -> None:
        """Called once the server has finished with a request (answered or not).

        Transports with acknowledged delivery mark the request done here; others need not
        override it.
        """

    def message_details(self, request_id: int, meta: dict[str, Any]) -> MessageDetails:
        """Describe a request this transport delivered and the server has not completed
        yet (called with the ``request_id`` and ``meta`` it was received with).

        The server asks only while event listeners are registered, once per request. The
        default names the service as the queue and does not know the delivery attempt;
        transports that know better override it. It must not block or raise.
        """
        return MessageDetails(request_id, self.service_name, None)


class AsyncClientTransport(Transport, abc.ABC):
    """The asyncio twin of :class:`ClientTransport`, used by ``AsyncClient``."""

    @abc.abstractmethod
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
        """Send a request (see :meth:`ClientTransport.send_request_message`)."""

    @abc.abstractmethod
    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """Wait for the next response (see :meth:`ClientTransport.receive_response_message`)."""

    async def aclose(self) -> None:
        """Release connections and other resources."""


RequestSender = Callable[..., Any]
"""A transport's ``send_request_message``, taking ``expects_reply`` and ``receive_follows``
as keywords."""

# The keywords of send_request_message that transports written before them do not take.
_TELLING_KEYWORDS = ("expects_reply", "receive_follows")
# And of send_response_message.
_TELLING_RESPONSE_KEYWORDS = ("receive_follows",)


def request_sender(transport: ClientTransport | AsyncClientTransport) -> RequestSender:
    """``transport.send_request_message``, to be called with the ``expects_reply`` and
    ``receive_follows`` keywords.

    Transports written before a keyword existed do not take it; for those, the function
    returned leaves it out. Call this once per transport (it reads the method's signature),
    not once per request.
    """
    send = transport.send_request_message
    taken = _keywords_taken(send)
    if len(taken) == len(_TELLING_KEYWORDS):
        return send

    def send_telling_what_it_takes(
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        **told: bool,
    ) -> Any:
        # The result is returned, so that the asyncio twin's coroutine is awaited by the caller.
        kept = {name: value for name, value in told.items() if name in taken}
        return send(request_id, meta, body, message_expiry_in_seconds, **kept)

    return send_telling_what_it_takes


def response_sender(transport: ServerTransport) -> Callable[..., None] | None:
    """``transport.send_response_message``, if it takes the ``receive_follows`` keyword;
    ``None`` for a transport written before the keyword (call it without). Call this once
    per transport (it reads the method's signature), not once per response."""
    send = transport.send_response_message
    return send if _keywords_taken(send, _TELLING_RESPONSE_KEYWORDS) else None


def _keywords_taken(
    function: Callable[..., Any], keywords: tuple[str, ...] = _TELLING_KEYWORDS
) -> set[str]:
    """Which of ``keywords`` ``function`` takes."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return set()
    taken = set()
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return set(keywords)
        if parameter.name in keywords and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY:
            taken.add(parameter.name)
    return taken
