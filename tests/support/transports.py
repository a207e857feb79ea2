"""Transports for tests: an in-memory server transport for unit tests of the server's request
loop, and local transports that misbehave as networked ones can.

They are real transports: requests are queued by the test, responses collected, and the test
can make them raise what a transport raises.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from servicewire import MessageReceiveTimeout, MessageSendError
from servicewire.transport.base import (
    AsyncClientTransport,
    ClientTransport,
    ReceivedMessage,
    ServerTransport,
)
from servicewire.transport.local import AsyncLocalClientTransport, LocalClientTransport


class QueueServerTransport(ServerTransport):
    def __init__(self, service_name: str = "test", *args: Any, **kwargs: Any) -> None:
        super().__init__(service_name, *args, **kwargs)
        self.incoming: deque[ReceivedMessage | BaseException] = deque()
        self.sent: list[ReceivedMessage] = []
        self.completed: list[int] = []
        self.send_failures: deque[BaseException] = deque()
        self.closed = False
        self.workers = 1

    def enable_concurrent_requests(self, workers: int) -> None:
        # deque appends and pops, and list appends, are atomic: nothing else is needed.
        self.workers = workers

    def add_request(self, request_id: int, body: Any, meta: dict[str, Any] | None = None) -> None:
        self.incoming.append(
            ReceivedMessage(request_id, {"client_version": [1, 4, 9], **(meta or {})}, body)
        )

    def receive_request_message(self) -> ReceivedMessage:
        if not self.incoming:
            raise MessageReceiveTimeout("nothing queued")
        item = self.incoming.popleft()
        if isinstance(item, BaseException):
            raise item
        return item

    def send_response_message(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        if self.send_failures:
            raise self.send_failures.popleft()
        self.sent.append(ReceivedMessage(request_id, meta, body))

    def complete_request_message(self, request_id: int, meta: dict[str, Any]) -> None:
        self.completed.append(request_id)

    def close(self) -> None:
        self.closed = True


class ReorderingLocalTransport(LocalClientTransport):
    """A local transport whose replies come back in reverse order, with optional stale replies
    and send failures: what a networked transport can do to a client."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stale: list[ReceivedMessage] = []
        self.fail_sends: list[BaseException] = []
        self.fail_receives: list[BaseException] = []
        self.newest_first = True

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        if self.fail_sends:
            raise self.fail_sends.pop(0)
        super().send_request_message(request_id, meta, body, message_expiry_in_seconds)

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        if self.fail_receives:
            raise self.fail_receives.pop(0)
        if self.stale:
            return self.stale.pop(0)
        responses = self._state.responses
        if responses:
            return responses.pop() if self.newest_first else responses.popleft()
        raise MessageReceiveTimeout("no reply within the timeout")


class AsyncTroubledLocalTransport(AsyncLocalClientTransport):
    """The asyncio local transport, plus what a network can do to a client: stale replies
    (``inject``) and receive errors (``fail_receives``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_receives: list[BaseException] = []

    def inject(self, message: ReceivedMessage) -> None:
        """Make ``message`` the next reply received."""
        self._deliver([message])

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        if self.fail_receives:
            raise self.fail_receives.pop(0)
        return await super().receive_response_message(receive_timeout_in_seconds)


class TroubledLocalTransport(LocalClientTransport):
    """A local transport whose asyncio twin is :class:`AsyncTroubledLocalTransport`."""

    async_transport_class = "tests.support.transports:AsyncTroubledLocalTransport"


class BrokenTransport(ClientTransport):
    """A transport to a service that cannot be reached: every send fails."""

    async_transport_class = "tests.support.transports:AsyncBrokenTransport"

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        raise MessageSendError(f"{self.service_name} is unreachable")

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        raise MessageReceiveTimeout("nothing was sent")


class AsyncBrokenTransport(AsyncClientTransport):
    """The asyncio twin of :class:`BrokenTransport`."""

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        raise MessageSendError(f"{self.service_name} is unreachable")

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        raise MessageReceiveTimeout("nothing was sent")


class TellingQueueServerTransport(QueueServerTransport):
    """A :class:`QueueServerTransport` that takes ``receive_follows`` and keeps what each
    response was told, in :attr:`told`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[bool] = []

    def send_response_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        *,
        receive_follows: bool = False,
    ) -> None:
        self.told.append(receive_follows)
        super().send_response_message(request_id, meta, body)
