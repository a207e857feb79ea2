"""The seam for test doubles: while a transport hook is installed, every handler, old and new,
sync and asyncio, sends through the transport the hook gives, and goes back to its own after."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from servicewire import AsyncClient, Client, ClientSettings, ImproperlyConfigured
from servicewire.client.intercept import (
    hook_point,
    install_transport_hook,
    settings_for_unconfigured_service,
    uninstall_transport_hook,
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
        *,
        expects_reply: bool = True,
    ) -> None:
        self.sent.append(body["actions"][0]["action"])
        self.wrapped.send_request_message(
            request_id, meta, body, message_expiry_in_seconds, expects_reply=expects_reply
        )

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
        *,
        expects_reply: bool = True,
    ) -> None:
        reply = {"actions": [{"action": "square", "body": {"square": "intercepted"}}]}
        self.deliver(ReceivedMessage(request_id, meta, reply))

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        raise AssertionError("replies are delivered, never received")


class Hook:
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
def hook() -> Iterator[Hook]:
    hook = Hook()
    yield hook
    uninstall_transport_hook(hook)


def square(client: Client) -> Any:
    return client.call_action("math", "square", {"number": 3}).body


def test_handlers_built_before_and_after_send_through_the_hook_then_their_own(
    hook: Hook,
) -> None:
    before = Client({"math": local_settings(Math)})
    square(before)
    original = before.handlers["math"].transport
    install_transport_hook(hook)
    after = Client({"math": local_settings(Math)})
    assert (square(before), square(after)) == ({"square": 9}, {"square": 9})
    assert hook.sent == ["square", "square"]
    assert isinstance(before.handlers["math"].transport, Recording)
    uninstall_transport_hook(hook)
    assert (square(before), square(after)) == ({"square": 9}, {"square": 9})
    assert hook.sent == ["square", "square"]
    assert before.handlers["math"].transport is original
    assert isinstance(after.handlers["math"].transport, LocalClientTransport)


def test_a_transport_the_hook_may_not_unwrap_yet_stays_until_a_send_finds_it_may(
    hook: Hook,
) -> None:
    client = Client({"math": local_settings(Math)})
    install_transport_hook(hook)
    square(client)
    hook.unwrappable = False
    uninstall_transport_hook(hook)
    square(client)
    assert hook.sent == ["square", "square"]
    assert isinstance(client.handlers["math"].transport, Recording)
    hook.unwrappable = True
    square(client)
    assert hook.sent == ["square", "square"]
    assert isinstance(client.handlers["math"].transport, LocalClientTransport)


def test_only_one_hook_may_be_installed(hook: Hook) -> None:
    install_transport_hook(hook)
    install_transport_hook(hook)
    with pytest.raises(RuntimeError, match="Another transport hook is already installed"):
        install_transport_hook(Hook())
    uninstall_transport_hook(Hook())
    assert hook_point.hook is hook


def test_nothing_keeps_the_handlers_of_a_client(hook: Hook) -> None:
    client = Client({"math": local_settings(Math)})
    square(client)
    handler = weakref.ref(client.handlers["math"])
    del client
    gc.collect()
    assert handler() is None


def test_the_hook_may_offer_settings_for_an_unconfigured_service(hook: Hook) -> None:
    assert settings_for_unconfigured_service("math") is None
    install_transport_hook(hook)
    with pytest.raises(ImproperlyConfigured, match="Unrecognized service name 'math'"):
        square(Client({}))
    hook.unconfigured = ClientSettings.from_dict(local_settings(Math))
    assert square(Client({})) == {"square": 9}
    uninstall_transport_hook(hook)
    assert settings_for_unconfigured_service("math") is None


def test_asyncio_handlers_get_a_deliver_function_for_immediate_replies(hook: Hook) -> None:
    async def calls() -> tuple[Any, Any]:
        async with AsyncClient({"math": local_settings(Math)}) as client:
            await client.call_action("math", "square", {"number": 2})
            handler = client.handlers["math"]
            original = handler.transport
            install_transport_hook(hook)
            intercepted = (await client.call_action("math", "square", {"number": 2})).body
            uninstall_transport_hook(hook)
            real = (await client.call_action("math", "square", {"number": 2})).body
            assert handler.transport is original
            assert isinstance(original, AsyncLocalClientTransport)
            return intercepted, real

    assert asyncio.run(calls()) == ({"square": "intercepted"}, {"square": 4})
