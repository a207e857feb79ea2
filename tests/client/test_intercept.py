"""The seam for test doubles: an installed interceptor wraps the transport of every handler,
old and new, sync and asyncio, and gives each its own back when uninstalled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from servicewire import AsyncClient, Client, ClientSettings, ImproperlyConfigured
from servicewire.client.intercept import (
    install_interceptor,
    settings_for_unconfigured_service,
    uninstall_interceptor,
)
from servicewire.transport.base import AsyncClientTransport, ClientTransport, ReceivedMessage
from servicewire.transport.local import AsyncLocalClientTransport, LocalClientTransport
from tests.client.test_client import Math, local_settings


class Recording(ClientTransport):
    """Passes everything on, noting each request it sends."""

    def __init__(self, wrapped: ClientTransport, sent: list[str]) -> None:
        super().__init__(wrapped.service_name, wrapped.metrics)
        self.wrapped = wrapped
        self.sent = sent

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        self.sent.append(body["actions"][0]["action"])
        self.wrapped.send_request_message(request_id, meta, body, message_expiry_in_seconds)

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        return self.wrapped.receive_response_message(receive_timeout_in_seconds)


class AnsweringAtOnce(AsyncClientTransport):
    """Answers every request itself, through the handler's ``deliver``."""

    def __init__(
        self, wrapped: AsyncClientTransport, deliver: Callable[[ReceivedMessage], None]
    ) -> None:
        super().__init__(wrapped.service_name, wrapped.metrics)
        self.deliver = deliver

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        reply = {"actions": [{"action": "square", "body": {"square": "intercepted"}}]}
        self.deliver(ReceivedMessage(request_id, meta, reply))

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        raise AssertionError("replies are delivered, never received")


class Interceptor:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.unwrappable = True
        self.unconfigured: ClientSettings | None = None

    def wrap(self, service_name: str, transport: ClientTransport) -> ClientTransport:
        return Recording(transport, self.sent)

    def wrap_async(
        self,
        service_name: str,
        transport: AsyncClientTransport,
        deliver: Callable[[ReceivedMessage], None],
    ) -> AsyncClientTransport:
        return AnsweringAtOnce(transport, deliver)

    def can_unwrap(self, transport: Any) -> bool:
        return self.unwrappable

    def settings_for_unconfigured_service(self, service_name: str) -> ClientSettings | None:
        return self.unconfigured


@pytest.fixture
def interceptor() -> Iterator[Interceptor]:
    interceptor = Interceptor()
    yield interceptor
    interceptor.unwrappable = True
    uninstall_interceptor(interceptor)


def square(client: Client) -> Any:
    return client.call_action("math", "square", {"number": 3}).body


def test_handlers_built_before_and_after_are_wrapped_then_given_back(
    interceptor: Interceptor,
) -> None:
    before = Client({"math": local_settings(Math)})
    square(before)
    original = before.handlers["math"].transport
    install_interceptor(interceptor)
    after = Client({"math": local_settings(Math)})
    assert (square(before), square(after)) == ({"square": 9}, {"square": 9})
    assert interceptor.sent == ["square", "square"]
    assert isinstance(before.handlers["math"].transport, Recording)
    uninstall_interceptor(interceptor)
    assert before.handlers["math"].transport is original
    assert isinstance(after.handlers["math"].transport, LocalClientTransport)
    square(after)
    assert interceptor.sent == ["square", "square"]


def test_a_transport_the_interceptor_may_not_unwrap_yet_stays_until_a_later_uninstall(
    interceptor: Interceptor,
) -> None:
    client = Client({"math": local_settings(Math)})
    install_interceptor(interceptor)
    square(client)
    interceptor.unwrappable = False
    uninstall_interceptor(interceptor)
    assert isinstance(client.handlers["math"].transport, Recording)
    install_interceptor(interceptor)
    assert isinstance(client.handlers["math"].transport.wrapped, LocalClientTransport)  # type: ignore[attr-defined]
    interceptor.unwrappable = True
    uninstall_interceptor(interceptor)
    assert isinstance(client.handlers["math"].transport, LocalClientTransport)


def test_only_one_interceptor_may_be_installed(interceptor: Interceptor) -> None:
    install_interceptor(interceptor)
    install_interceptor(interceptor)
    with pytest.raises(RuntimeError, match="Another transport interceptor is already installed"):
        install_interceptor(Interceptor())


def test_the_interceptor_may_offer_settings_for_an_unconfigured_service(
    interceptor: Interceptor,
) -> None:
    assert settings_for_unconfigured_service("math") is None
    install_interceptor(interceptor)
    with pytest.raises(ImproperlyConfigured, match="Unrecognized service name 'math'"):
        square(Client({}))
    interceptor.unconfigured = ClientSettings.from_dict(local_settings(Math))
    assert square(Client({})) == {"square": 9}
    uninstall_interceptor(interceptor)
    assert settings_for_unconfigured_service("math") is None


def test_asyncio_handlers_get_a_deliver_function_for_immediate_replies(
    interceptor: Interceptor,
) -> None:
    async def calls() -> tuple[Any, Any]:
        async with AsyncClient({"math": local_settings(Math)}) as client:
            await client.call_action("math", "square", {"number": 2})
            handler = client.handlers["math"]
            original = handler.transport
            install_interceptor(interceptor)
            intercepted = (await client.call_action("math", "square", {"number": 2})).body
            uninstall_interceptor(interceptor)
            assert handler.transport is original
            assert isinstance(original, AsyncLocalClientTransport)
            return intercepted, (await client.call_action("math", "square", {"number": 2})).body

    assert asyncio.run(calls()) == ({"square": "intercepted"}, {"square": 4})
