"""The per-service half of the asyncio client: its transport, its middleware, its reader.

Many calls may wait on one service at once. Each request that expects a reply gets an
:class:`asyncio.Future`, kept by request id; a single reader task per service receives the
replies and resolves the future of each. So:

- a reply nobody waits for any more (its caller timed out or was cancelled) is dropped with a
  log line;
- a caller that gives up removes its requests at once, leaving nothing behind;
- a transport error that names a request (its ``request_id`` attribute, as
  ``InvalidMessageError`` has) fails that request's call; any other transport error fails
  every call waiting on the service, since their replies come through the same receive;
- a wait without a timeout of its own is bounded by the transport's receive timeout, as in
  the sync client: when a whole receive of the reader that began after the wait did returns
  nothing, the wait fails with ``MessageReceiveTimeout``.

The reader runs only while someone waits for a reply.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass
from typing import Any

from servicewire._middleware import make_middleware_stack
from servicewire.client.handler import CLIENT_PROTOCOL_VERSION, BaseServiceHandler
from servicewire.client.intercept import TransportHook, hook_point
from servicewire.client.settings import ClientSettings
from servicewire.errors import (
    ClientError,
    ImproperlyConfigured,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
)
from servicewire.settings import import_path
from servicewire.transport.base import (
    AsyncClientTransport,
    ReceivedMessage,
    RequestSender,
    request_sender,
)
from servicewire.types import JobRequest, JobResponse

__all__ = ["AsyncHandlerStatistics", "AsyncServiceHandler", "async_transport_class"]

_logger = logging.getLogger("servicewire.client")

_HeldRequest = tuple[int, dict[str, Any], JobRequest, "int | float | None"]


def async_transport_class(
    service_name: str, settings: ClientSettings
) -> type[AsyncClientTransport]:
    """The asyncio transport class for ``settings``: the one its transport class names in
    ``async_transport_class``. Raises ``ImproperlyConfigured`` naming the service if there is
    none or it cannot be imported."""
    transport_class = settings.transport.object
    described = f"{transport_class.__module__}:{transport_class.__qualname__}"
    path = getattr(transport_class, "async_transport_class", None)
    if path is None:
        raise ImproperlyConfigured(
            f"Service {service_name!r}: its transport {described} has no asyncio version "
            "(async_transport_class is not set), so AsyncClient cannot call it"
        )
    try:
        resolved = import_path(path)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"Service {service_name!r}: the asyncio version {path!r} of its transport "
            f"{described} cannot be imported: {error}"
        ) from None
    if not (isinstance(resolved, type) and issubclass(resolved, AsyncClientTransport)):
        raise ImproperlyConfigured(
            f"Service {service_name!r}: {path!r}, the asyncio version of its transport "
            f"{described}, is not an AsyncClientTransport"
        )
    return resolved


@dataclass(frozen=True)
class AsyncHandlerStatistics:
    """What an :class:`AsyncServiceHandler` holds at one moment."""

    requests_pending: int
    """Requests sent whose reply has not arrived and that are still wanted."""
    requests_waited_for: int
    """Of those, the ones a caller is waiting for now."""
    reader_running: bool


class AsyncServiceHandler(BaseServiceHandler):
    """Sends jobs to one service over its asyncio transport and matches the replies.

    It belongs to the event loop that first uses it. Replies to requests sent with
    :meth:`send_request` belong to the task that sent them, until that task collects them
    with :meth:`get_all_responses` or ends.
    """

    def __init__(
        self,
        service_name: str,
        settings: ClientSettings,
        transport_class: type[AsyncClientTransport] | None = None,
    ) -> None:
        super().__init__(service_name, settings)
        transport_class = transport_class or async_transport_class(service_name, settings)
        self.transport: AsyncClientTransport
        self._send_message: RequestSender
        self._use_transport(
            transport_class(service_name, self.metrics, **settings.transport.kwargs)
        )
        self._own_transport = self.transport
        # The middleware are sync wrappers: the request stack runs down to a base that holds
        # the message for the send awaited after it, and the response stack runs, in the
        # reader, down to a base that hands over the message just received.
        self._send_through_middleware = make_middleware_stack(
            [middleware.request for middleware in self.middleware], self._hold_request
        )
        self._receive_through_middleware = make_middleware_stack(
            [middleware.response for middleware in self.middleware],
            self._receive_from_transport,
        )
        self._next_message = self._take_incoming
        self._held_request: _HeldRequest | None = None
        self._incoming: ReceivedMessage | Exception | None = None
        self._pending: dict[int, asyncio.Future[JobResponse]] = {}
        # Request id -> None if its waiter has a deadline of its own, else the number of
        # receives started before the wait began (see _fail_quiet_waits).
        self._waited: dict[int, int | None] = {}
        self._parked: dict[asyncio.Task[Any] | None, dict[int, asyncio.Future[JobResponse]]] = {}
        self._receives_started = 0
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def _use_transport(self, transport: AsyncClientTransport) -> None:
        self.transport = transport
        self._send_message = request_sender(transport)

    def _wrapped_by(self, hook: TransportHook) -> AsyncClientTransport:
        return hook.wrap_async(self.service_name, self._own_transport, self._deliver)

    # --- sending --------------------------------------------------------------------------

    def _hold_request(
        self,
        request_id: int,
        meta: dict[str, Any],
        job_request: JobRequest,
        message_expiry_in_seconds: int | float | None,
    ) -> None:
        if self._held_request is not None:
            raise MessageSendError(
                f"A client middleware of service {self.service_name!r} passed a request on "
                "twice: the asyncio client sends each job once"
            )
        self._held_request = (request_id, meta, job_request, message_expiry_in_seconds)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise ClientError(
                f"The AsyncClient handler of service {self.service_name!r} belongs to another "
                "event loop: make one AsyncClient per event loop"
            )
        if self._closed:
            raise ClientError(f"The AsyncClient handler of service {self.service_name!r} is closed")
        return loop

    async def send_job(
        self,
        job_request: JobRequest,
        message_expiry_in_seconds: int | float | None,
        *,
        has_deadline: bool,
    ) -> tuple[int, asyncio.Future[JobResponse]]:
        """Send ``job_request`` (through the middleware) for a caller who waits for the reply
        now; return its request id and the future of its reply.

        ``has_deadline`` says that the caller bounds its own wait; otherwise the wait is
        bounded by the transport's receive timeout. A caller that stops waiting before the
        future is done must call :meth:`give_up`.
        """
        loop = self._running_loop()
        request_id, future = await self._send(loop, job_request, message_expiry_in_seconds)
        if not future.done():
            self._waited[request_id] = None if has_deadline else self._receives_started
            self._ensure_reader(loop)
        return request_id, future

    async def send_request(
        self,
        job_request: JobRequest,
        message_expiry_in_seconds: int | float | None = None,
        *,
        expect_response: bool = True,
    ) -> int:
        """Send ``job_request`` (through the middleware) and return its request id; its reply
        is kept for :meth:`get_all_responses` in the same task."""
        loop = self._running_loop()
        request_id, future = await self._send(
            loop, job_request, message_expiry_in_seconds, expect_response
        )
        if expect_response:
            self._park(request_id, future)
        return request_id

    async def _send(
        self,
        loop: asyncio.AbstractEventLoop,
        job_request: JobRequest,
        message_expiry_in_seconds: int | float | None,
        expect_response: bool = True,
    ) -> tuple[int, asyncio.Future[JobResponse]]:
        request_id = next(self._request_ids)
        meta: dict[str, Any] = {"client_version": list(CLIENT_PROTOCOL_VERSION)}
        self._held_request = None
        try:
            self._send_through_middleware(request_id, meta, job_request, message_expiry_in_seconds)
        finally:
            held, self._held_request = self._held_request, None
        if held is None:
            raise MessageSendError(
                f"A client middleware of service {self.service_name!r} did not pass request "
                f"{request_id} on: the asyncio client sends only what reaches the transport"
            )
        request_id, meta, job_request, message_expiry_in_seconds = held
        future: asyncio.Future[JobResponse] = loop.create_future()
        if expect_response:
            # Registered before sending, so that a reply that outruns the send is kept.
            self._pending[request_id] = future
        if hook_point.hook is not self._followed_hook:
            self._follow_hook()
        try:
            await self._send_message(
                request_id,
                meta,
                job_request.to_dict(),
                message_expiry_in_seconds,
                expects_reply=expect_response,
            )
        except BaseException:
            self.give_up((request_id,))
            raise
        return request_id, future

    def give_up(self, request_ids: Collection[int]) -> None:
        """Stop waiting for ``request_ids``: their replies, if they come, are dropped."""
        for request_id in request_ids:
            self._waited.pop(request_id, None)
            future = self._pending.pop(request_id, None)
            if future is not None:
                future.cancel()

    # --- send_request and get_all_responses -----------------------------------------------

    def _park(self, request_id: int, future: asyncio.Future[JobResponse]) -> None:
        task = asyncio.current_task()
        parked = self._parked.get(task)
        if parked is None:
            parked = self._parked[task] = {}
            if task is not None:
                task.add_done_callback(self._forget_parked)
        parked[request_id] = future

    def _forget_parked(self, task: asyncio.Task[Any] | None) -> None:
        """The task that sent these requests has ended without collecting their replies."""
        for request_id, future in self._parked.pop(task, {}).items():
            self.give_up((request_id,))
            if future.done() and not future.cancelled():
                future.exception()  # retrieved, so that asyncio does not log it as lost

    async def get_all_responses(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> AsyncGenerator[tuple[int, JobResponse], None]:
        """Yield ``(request_id, job_response)`` for every request this task sent with
        :meth:`send_request` and has not collected, in the order the replies arrive.

        Each wait for the next reply lasts at most ``receive_timeout_in_seconds`` (by default
        the transport's receive timeout); when it expires, the requests still missing are
        given up and ``MessageReceiveTimeout`` is raised. Replies not yet yielded when the
        iteration stops early stay to be collected later.
        """
        loop = self._running_loop()
        parked = self._parked.get(asyncio.current_task(), {})
        waiting = {future: request_id for request_id, future in parked.items()}
        parked.clear()
        mark = None if receive_timeout_in_seconds is not None else self._receives_started
        for future, request_id in waiting.items():
            if not future.done():
                self._waited[request_id] = mark
        if self._waited:
            self._ensure_reader(loop)
        try:
            while waiting:
                done, _ = await asyncio.wait(
                    waiting, timeout=receive_timeout_in_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    missing = list(waiting.values())
                    waiting.clear()
                    self.give_up(missing)
                    raise self._timeout_error(missing)
                for future in sorted(done, key=waiting.__getitem__):
                    request_id = waiting.pop(future)
                    yield request_id, future.result()
        finally:
            for future, request_id in waiting.items():
                self._waited.pop(request_id, None)
                self._park(request_id, future)

    # --- receiving ------------------------------------------------------------------------

    def _ensure_reader(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._reader is None:
            # In a context of its own: the reader serves every caller, so it must not carry
            # the context variables (log context, tracing) of the one that happened to start
            # it.
            self._reader = contextvars.Context().run(
                loop.create_task,
                self._read_replies(),
                name=f"servicewire reader of {self.service_name!r}",
            )

    async def _read_replies(self) -> None:
        try:
            while self._waited:
                self._receives_started += 1
                receive_number = self._receives_started
                try:
                    message = await self.transport.receive_response_message(None)
                except MessageReceiveTimeout:
                    self._fail_quiet_waits(receive_number)
                    # A transport that times out without waiting must not starve the loop.
                    await asyncio.sleep(0)
                    continue
                except Exception as error:
                    self._deliver(error)
                else:
                    self._deliver(message)
        except asyncio.CancelledError:
            self._fail_waits(
                MessageReceiveError(
                    f"The AsyncClient handler of service {self.service_name!r} was closed "
                    "while calls were waiting for replies"
                )
            )
            raise
        except BaseException as error:
            _logger.exception("The reply reader of service %r failed", self.service_name)
            self._fail_waits(
                MessageReceiveError(
                    f"The reply reader of service {self.service_name!r} failed: {error!r}"
                )
            )
        finally:
            self._reader = None

    def _take_incoming(self, receive_timeout_in_seconds: int | float | None) -> ReceivedMessage:
        """What the reader just received, handed down the response middleware once."""
        incoming, self._incoming = self._incoming, None
        if isinstance(incoming, Exception):
            raise incoming
        if incoming is None:
            return ReceivedMessage(None, None, None)
        return incoming

    def _deliver(self, outcome: ReceivedMessage | Exception) -> None:
        """Pass what the transport's receive gave through the response middleware, and
        resolve the future it belongs to."""
        self._incoming = outcome
        try:
            request_id, response = self._receive_through_middleware(None)
        except Exception as error:
            self._fail_one_or_all(error, outcome)
            return
        finally:
            self._incoming = None
        if request_id is None or response is None:
            self._fail_waits(self._no_reply_error(list(self._waited)))
            return
        future = self._pending.pop(request_id, None)
        if future is None:
            self._log_dropped_reply(request_id)
            return
        self._waited.pop(request_id, None)
        future.set_result(response)

    def _fail_one_or_all(self, error: Exception, outcome: ReceivedMessage | Exception) -> None:
        request_id = getattr(error, "request_id", None)
        if request_id is None and isinstance(outcome, ReceivedMessage):
            # Raised while reading this message: it concerns this request only.
            request_id = outcome.request_id
        if request_id is None:
            self._fail_waits(error)
            return
        future = self._pending.pop(request_id, None)
        if future is None:
            _logger.warning(
                "Dropped an error from service %r about request %s that nobody is waiting for: %s",
                self.service_name,
                request_id,
                error,
            )
            return
        self._waited.pop(request_id, None)
        future.set_exception(error)

    def _fail_waits(self, error: Exception) -> None:
        """Fail every call waiting now (requests parked for later collection stay)."""
        for request_id in list(self._waited):
            del self._waited[request_id]
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_exception(error)

    def _fail_quiet_waits(self, receive_number: int) -> None:
        """A whole receive got nothing: fail the waits without a deadline of their own that
        had begun before it (each would have timed out in the sync client)."""
        expired = [
            request_id
            for request_id, mark in self._waited.items()
            if mark is not None and mark < receive_number
        ]
        for request_id in expired:
            del self._waited[request_id]
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_exception(self._timeout_error((request_id,)))

    # --- the rest -------------------------------------------------------------------------

    def statistics(self) -> AsyncHandlerStatistics:
        """What this handler holds now (for tests and monitoring)."""
        return AsyncHandlerStatistics(
            requests_pending=len(self._pending),
            requests_waited_for=len(self._waited),
            reader_running=self._reader is not None,
        )

    async def aclose(self) -> None:
        """Stop the reader (calls still waiting fail with ``MessageReceiveError``), forget
        every request, and close the transport."""
        self._closed = True
        reader = self._reader
        if reader is not None:
            reader.cancel()
            # Waits for the reader to finish without taking its cancellation for ours.
            await asyncio.wait((reader,))
        for task in list(self._parked):
            if task is not None:
                task.remove_done_callback(self._forget_parked)
            self._forget_parked(task)
        self.give_up(list(self._pending))
        await self._own_transport.aclose()
