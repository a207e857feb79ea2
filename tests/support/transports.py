"""An in-memory server transport for unit tests of the server's request loop.

It is a real ``ServerTransport``: requests are queued by the test, responses collected, and
the test can make it raise what a transport raises.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from servicewire import MessageReceiveTimeout
from servicewire.transport.base import ReceivedMessage, ServerTransport
from servicewire.transport.local import LocalClientTransport


class QueueServerTransport(ServerTransport):
    def __init__(self, service_name: str = "test", *args: Any, **kwargs: Any) -> None:
        super().__init__(service_name, *args, **kwargs)
        self.incoming: deque[ReceivedMessage | BaseException] = deque()
        self.sent: list[ReceivedMessage] = []
        self.completed: list[int] = []
        self.send_failures: deque[BaseException] = deque()
        self.closed = False

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
