"""The per-service half of a client: its transport, its middleware, and reply matching."""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Collection, Generator
from typing import Any, NoReturn

from servicewire._middleware import make_middleware_stack
from servicewire._tracing import with_client_tracing
from servicewire.client.intercept import TransportHook, hook_point
from servicewire.client.settings import ClientSettings
from servicewire.errors import InvalidMessageError, MessageReceiveError, MessageReceiveTimeout
from servicewire.metrics import MetricName
from servicewire.transport.base import (
    ClientTransport,
    ReceivedMessage,
    RequestSender,
    request_sender,
)
from servicewire.types import JobRequest, JobResponse

__all__ = ["CLIENT_PROTOCOL_VERSION", "BaseServiceHandler", "ServiceHandler"]

CLIENT_PROTOCOL_VERSION = (1, 4, 9)
"""The PySOA protocol level servicewire clients speak, sent as ``meta["client_version"]``."""

_logger = logging.getLogger("servicewire.client")


class _ThreadState:
    """One thread's requests in flight and the replies that arrived before they were asked for."""

    __slots__ = ("outstanding", "received")

    def __init__(self) -> None:
        self.outstanding: set[int] = set()
        self.received: dict[int, JobResponse] = {}

    def forget(self, request_ids: Collection[int]) -> None:
        """Stop waiting for ``request_ids``: their replies, if they come, are dropped."""
        self.outstanding.difference_update(request_ids)
        for request_id in request_ids:
            self.received.pop(request_id, None)


class BaseServiceHandler:
    """What the sync and asyncio handlers of a service share: its metrics recorder and
    middleware, request ids, the reading of replies, the following of the transport hook,
    and the wording of the errors and log lines about them."""

    transport: Any
    """The transport sent through now: the handler's own, or one the installed transport
    hook gave in its place."""

    def __init__(self, service_name: str, settings: ClientSettings) -> None:
        self.service_name = service_name
        self.settings = settings
        self.metrics = settings.metrics.object(**settings.metrics.kwargs)
        self.middleware = [
            reference.object(**reference.kwargs) for reference in settings.middleware
        ]
        self.middleware = with_client_tracing(service_name, self.middleware)
        # Ids start at a random point so that two clients' ids rarely collide in logs.
        self._request_ids = itertools.count(random.randint(1, 1000000))
        self._metric_tags = {"service": service_name}
        # Where the reply stack gets the next message; each kind of handler sets its own.
        self._next_message: Callable[[int | float | None], ReceivedMessage]
        # The transport built from the settings, and the hook (see client.intercept) whose
        # transport is used in its place, if any.
        self._own_transport: Any = None
        self._followed_hook: TransportHook | None = None
        self._hook_lock = threading.Lock()

    def _use_transport(self, transport: Any) -> None:
        """Send and receive through ``transport`` from now on."""
        raise NotImplementedError

    def _wrapped_by(self, hook: TransportHook) -> Any:
        """The transport ``hook`` gives in place of this handler's own."""
        raise NotImplementedError

    def _follow_hook(self) -> None:
        """Use the transport of the hook installed now, or the own transport again once
        none is (see :mod:`servicewire.client.intercept`). Called by a send that finds the
        installed hook is not the one followed."""
        with self._hook_lock:
            hook = hook_point.hook
            followed = self._followed_hook
            if hook is followed:
                return
            if followed is not None:
                if not followed.can_unwrap(self.transport):
                    # It still owes a reply: asked again at the next send.
                    return
                self._followed_hook = None
                self._use_transport(self._own_transport)
            if hook is not None:
                self._use_transport(self._wrapped_by(hook))
                self._followed_hook = hook

    def _receive_from_transport(
        self, receive_timeout_in_seconds: int | float | None
    ) -> tuple[int | None, JobResponse | None]:
        """The base of the response middleware stack: the next reply, read."""
        request_id, _meta, body = self._next_message(receive_timeout_in_seconds)
        if request_id is None or body is None:
            return None, None
        try:
            return request_id, JobResponse.from_dict(body)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InvalidMessageError(
                f"Malformed response {request_id} from service {self.service_name!r}: {error!r}",
                request_id=request_id,
            ) from error

    def _log_dropped_reply(self, request_id: int) -> None:
        if self.metrics.enabled:
            self.metrics.counter(MetricName.CLIENT_RESPONSE_DROPPED, tags=self._metric_tags)
        _logger.warning(
            "Dropped a reply from service %r to request %s that nobody is waiting for "
            "(it probably arrived after its caller timed out)",
            self.service_name,
            request_id,
        )

    def _timeout_error(self, request_ids: Collection[int]) -> MessageReceiveTimeout:
        return MessageReceiveTimeout(
            f"No reply from service {self.service_name!r} to request(s) {sorted(request_ids)} "
            "within the timeout"
        )

    def _no_reply_error(self, request_ids: Collection[int]) -> MessageReceiveError:
        return MessageReceiveError(
            f"The transport to service {self.service_name!r} has no reply coming for "
            f"request(s) {sorted(request_ids)}"
        )


class ServiceHandler(BaseServiceHandler):
    """Sends jobs to one service and matches the replies to them by request id.

    Each thread has its own set of requests in flight, so a client may be shared by threads.
    A reply to a request this thread is not waiting for (one that arrives after its caller
    gave up, say) is dropped with a log line.
    """

    def __init__(self, service_name: str, settings: ClientSettings) -> None:
        super().__init__(service_name, settings)
        transport_reference = settings.transport
        self.transport: ClientTransport
        self._send_message: RequestSender
        self._use_transport(
            transport_reference.object(service_name, self.metrics, **transport_reference.kwargs)
        )
        self._own_transport = self.transport
        # Ids of the requests being sent that expect no reply, and of those whose reply is
        # waited for at once, for the transport to be told.
        self._sent_without_reply: set[int] = set()
        self._awaited_at_once: set[int] = set()
        self._send = make_middleware_stack(
            [middleware.request for middleware in self.middleware], self._send_to_transport
        )
        self._receive = make_middleware_stack(
            [middleware.response for middleware in self.middleware],
            self._receive_from_transport,
        )
        self._local = threading.local()

    def _use_transport(self, transport: ClientTransport) -> None:
        self.transport = transport
        # The transport's own methods, so that sending and receiving cost no extra call.
        self._send_message = request_sender(transport)
        self._next_message = transport.receive_response_message

    def _wrapped_by(self, hook: TransportHook) -> ClientTransport:
        return hook.wrap(self.service_name, self._own_transport)

    def _state(self) -> _ThreadState:
        try:
            state: _ThreadState = self._local.state
        except AttributeError:
            state = self._local.state = _ThreadState()
        return state

    def _send_to_transport(
        self,
        request_id: int,
        meta: dict[str, Any],
        job_request: JobRequest,
        message_expiry_in_seconds: int | float | None,
    ) -> None:
        if hook_point.hook is not self._followed_hook:
            self._follow_hook()
        self._send_message(
            request_id,
            meta,
            job_request.to_dict(),
            message_expiry_in_seconds,
            expects_reply=request_id not in self._sent_without_reply,
            receive_follows=request_id in self._awaited_at_once,
        )

    def send_request(
        self,
        job_request: JobRequest,
        message_expiry_in_seconds: int | float | None = None,
        *,
        expect_response: bool = True,
        receive_follows: bool = False,
    ) -> int:
        """Send ``job_request`` (through the middleware) and return its request id.

        With ``expect_response=False`` (the job's ``suppress_response``) no reply is waited
        for, and the transport is told that none comes. ``receive_follows=True`` promises
        that this thread waits for the reply at once (:meth:`wait_for`), so that the
        transport may send the request together with that wait.
        """
        request_id = next(self._request_ids)
        meta: dict[str, Any] = {"client_version": list(CLIENT_PROTOCOL_VERSION)}
        if not expect_response:
            self._sent_without_reply.add(request_id)
        elif receive_follows:
            self._awaited_at_once.add(request_id)
        try:
            if self.metrics.enabled:
                started = time.perf_counter()
                self._send(request_id, meta, job_request, message_expiry_in_seconds)
                self.metrics.timer(
                    MetricName.CLIENT_REQUEST_SEND,
                    time.perf_counter() - started,
                    self._metric_tags,
                )
            else:
                self._send(request_id, meta, job_request, message_expiry_in_seconds)
        finally:
            if not expect_response:
                self._sent_without_reply.discard(request_id)
            elif receive_follows:
                self._awaited_at_once.discard(request_id)
        if expect_response:
            try:
                state: _ThreadState = self._local.state
            except AttributeError:
                state = self._state()
            state.outstanding.add(request_id)
        return request_id

    def wait_for(
        self,
        request_ids: Collection[int],
        timeout: int | float | None = None,
        *,
        give_up_on_timeout: bool = True,
        into: dict[int, JobResponse] | None = None,
    ) -> dict[int, JobResponse]:
        """Wait for the replies to ``request_ids`` (sent from this thread).

        ``timeout`` bounds the whole wait; without it each receive uses the transport's own
        receive timeout. On ``MessageReceiveTimeout`` the ids still missing are forgotten if
        ``give_up_on_timeout``, so that late replies are dropped instead of kept. The replies
        are put in ``into`` (a new dict by default), which is returned; when the wait fails
        part-way, the replies that did arrive are still there.
        """
        state = self._state()
        results: dict[int, JobResponse] = {} if into is None else into
        missing = set()
        for request_id in request_ids:
            response = state.received.pop(request_id, None)
            if response is None:
                missing.add(request_id)
            else:
                results[request_id] = response
        deadline = None if timeout is None else time.monotonic() + timeout
        while missing:
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._time_out(state, missing, give_up_on_timeout)
            try:
                if self.metrics.enabled:
                    received_id, response = self._timed_receive(remaining)
                else:
                    received_id, response = self._receive(remaining)
            except MessageReceiveTimeout:
                self._time_out(state, missing, give_up_on_timeout)
            if received_id is None or response is None:
                state.outstanding.difference_update(missing)
                raise self._no_reply_error(missing)
            if received_id in missing:
                missing.discard(received_id)
                state.outstanding.discard(received_id)
                results[received_id] = response
            else:
                self._keep_or_drop(state, received_id, response)
        return results

    def wait_for_one(
        self,
        request_id: int,
        timeout: int | float | None = None,
        *,
        give_up_on_timeout: bool = True,
    ) -> JobResponse:
        """The reply to ``request_id``: :meth:`wait_for` of one request."""
        try:
            # self._state(), without its call: the send made it.
            state: _ThreadState = self._local.state
        except AttributeError:
            state = self._state()
        if timeout is None and not state.received:
            # The usual case: no reply came early, and the next one is usually this one's,
            # taken here without the bookkeeping of a wait for several.
            try:
                if self.metrics.enabled:
                    received_id, response = self._timed_receive(None)
                else:
                    received_id, response = self._receive(None)
            except MessageReceiveTimeout:
                self._time_out(state, {request_id}, give_up_on_timeout)
            if received_id is None or response is None:
                state.outstanding.discard(request_id)
                raise self._no_reply_error({request_id})
            if received_id == request_id:
                state.outstanding.discard(request_id)
                return response
            self._keep_or_drop(state, received_id, response)
        return self.wait_for((request_id,), timeout, give_up_on_timeout=give_up_on_timeout)[
            request_id
        ]

    def _keep_or_drop(self, state: _ThreadState, received_id: int, response: JobResponse) -> None:
        """File a reply that is not one being waited for: kept if this thread still expects
        it, else dropped."""
        if received_id in state.outstanding:
            state.outstanding.discard(received_id)
            state.received[received_id] = response
        else:
            self._log_dropped_reply(received_id)

    def _timed_receive(
        self, receive_timeout_in_seconds: int | float | None
    ) -> tuple[int | None, JobResponse | None]:
        started = time.perf_counter()
        try:
            return self._receive(receive_timeout_in_seconds)
        finally:
            self.metrics.timer(
                MetricName.CLIENT_RESPONSE_RECEIVE, time.perf_counter() - started, self._metric_tags
            )

    def _time_out(self, state: _ThreadState, missing: set[int], give_up: bool) -> NoReturn:
        if self.metrics.enabled:
            self.metrics.counter(MetricName.CLIENT_RESPONSE_TIMEOUT, tags=self._metric_tags)
        if give_up:
            state.outstanding.difference_update(missing)
        raise self._timeout_error(missing)

    def forget_later(self, owner: object, request_ids: Collection[int]) -> None:
        """When ``owner`` is garbage-collected, stop waiting for ``request_ids``.

        Futures use this so that replies to a future nobody reads are not kept forever.
        """
        weakref.finalize(owner, self._state().forget, tuple(request_ids))

    def get_all_responses(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> Generator[tuple[int, JobResponse], None, None]:
        """Yield ``(request_id, job_response)`` for every request this thread has in flight."""
        state = self._state()
        while state.received:
            yield state.received.popitem()
        while state.outstanding:
            request_id = next(iter(state.outstanding))
            yield request_id, self.wait_for_one(request_id, receive_timeout_in_seconds)
            while state.received:
                yield state.received.popitem()

    def close(self) -> None:
        self._own_transport.close()
