"""The transport interface: how callers tell a transport whether a reply is expected, old
transports included."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from servicewire.transport.base import (
    AsyncClientTransport,
    ClientTransport,
    ReceivedMessage,
    ServerTransport,
    request_sender,
    response_sender,
)
from servicewire.transport.local import (
    AsyncLocalClientTransport,
    LocalClientTransport,
    LocalServerTransport,
)
from servicewire.transport.redis import RedisClientTransport, RedisServerTransport
from servicewire.transport.redis.aio import AsyncRedisClientTransport
from servicewire.transport.sql import SqlClientTransport, SqlServerTransport
from servicewire.transport.sql.aio import AsyncSqlClientTransport


class Recorder:
    """Records each send's arguments, in each of the shapes a transport's method may have."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def keyword(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
    ) -> None:
        self.calls.append((request_id, message_expiry_in_seconds, expects_reply))

    def both_keywords(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        self.calls.append((request_id, expects_reply, receive_follows))

    def old(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        self.calls.append((request_id, message_expiry_in_seconds))

    def any_keywords(self, request_id: int, *args: Any, **kwargs: Any) -> None:
        self.calls.append((request_id, kwargs))


def sender_of(method: Any) -> Any:
    class Transport:
        send_request_message = method

    return request_sender(Transport())  # type: ignore[arg-type]


def test_a_transport_that_takes_the_keyword_is_told() -> None:
    recorder = Recorder()
    sender_of(recorder.keyword)(1, {}, {}, 5, expects_reply=False)
    sender_of(recorder.any_keywords)(2, {}, {}, None, expects_reply=False)
    assert recorder.calls == [(1, 5, False), (2, {"expects_reply": False})]


def test_a_transport_is_told_only_the_keywords_it_takes() -> None:
    recorder = Recorder()
    sender_of(recorder.both_keywords)(1, {}, {}, 5, expects_reply=False, receive_follows=True)
    sender_of(recorder.keyword)(2, {}, {}, 5, expects_reply=False, receive_follows=True)
    sender_of(recorder.any_keywords)(3, {}, {}, None, receive_follows=True)
    assert recorder.calls == [(1, False, True), (2, 5, False), (3, {"receive_follows": True})]


def test_a_transport_taking_both_keywords_is_called_directly() -> None:
    recorder = Recorder()

    class Transport:
        send_request_message = recorder.both_keywords

    assert request_sender(Transport()) == recorder.both_keywords  # type: ignore[arg-type]


def test_a_transport_written_before_the_keyword_is_called_without_it() -> None:
    recorder = Recorder()
    sender_of(recorder.old)(1, {}, {}, 5, expects_reply=False)
    sender_of(recorder.old)(2, {}, {}, expects_reply=True)
    assert recorder.calls == [(1, 5), (2, None)]


class OldAsyncTransport(AsyncClientTransport):
    def __init__(self) -> None:
        super().__init__("old")
        self.sent: list[int] = []

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        self.sent.append(request_id)

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        return ReceivedMessage(None, None, None)


def test_an_old_asyncio_transport_gives_a_coroutine_to_await() -> None:
    transport = OldAsyncTransport()
    asyncio.run(request_sender(transport)(7, {}, {}, None, expects_reply=False))
    assert transport.sent == [7]


@pytest.mark.parametrize(
    "transport_class",
    [
        ClientTransport,
        AsyncClientTransport,
        LocalClientTransport,
        AsyncLocalClientTransport,
        RedisClientTransport,
        AsyncRedisClientTransport,
        SqlClientTransport,
        AsyncSqlClientTransport,
    ],
)
def test_every_transport_of_servicewire_takes_the_keywords(transport_class: type) -> None:
    parameters = inspect.signature(transport_class.send_request_message).parameters
    expects_reply, receive_follows = parameters["expects_reply"], parameters["receive_follows"]
    assert (expects_reply.kind, expects_reply.default) == (inspect.Parameter.KEYWORD_ONLY, True)
    assert (receive_follows.kind, receive_follows.default) == (
        inspect.Parameter.KEYWORD_ONLY,
        False,
    )


# --- the server side ---------------------------------------------------------------------


def response_sender_of(method: Any) -> Any:
    class Transport:
        send_response_message = method

    return response_sender(Transport())  # type: ignore[arg-type]


def test_a_server_transport_is_given_receive_follows_only_if_it_takes_it() -> None:
    class Responses:
        def takes(
            self, request_id: int, meta: Any, body: Any, *, receive_follows: bool = False
        ) -> None: ...

        def takes_any(self, request_id: int, meta: Any, body: Any, **kwargs: Any) -> None: ...

        def old(self, request_id: int, meta: Any, body: Any) -> None: ...

    responses = Responses()
    assert response_sender_of(responses.takes) == responses.takes
    assert response_sender_of(responses.takes_any) == responses.takes_any
    assert response_sender_of(responses.old) is None


@pytest.mark.parametrize(
    "transport_class",
    [
        ServerTransport,
        LocalClientTransport,
        LocalServerTransport,
        RedisServerTransport,
        SqlServerTransport,
    ],
)
def test_every_server_transport_of_servicewire_takes_receive_follows(
    transport_class: type,
) -> None:
    parameters = inspect.signature(transport_class.send_response_message).parameters
    receive_follows = parameters["receive_follows"]
    assert (receive_follows.kind, receive_follows.default) == (
        inspect.Parameter.KEYWORD_ONLY,
        False,
    )
