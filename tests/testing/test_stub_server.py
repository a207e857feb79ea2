"""StubServer, StubClientTransport and StubClient: services defined inline, called through
the real client and server code."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from servicewire import (
    ActionResponse,
    AsyncClient,
    CallActionError,
    Client,
    Error,
    ImproperlyConfigured,
    InvalidSettings,
    ServerMiddleware,
)
from servicewire.server.middleware import ProcessAction
from servicewire.server.request import EnrichedActionRequest
from servicewire.testing import (
    StubClient,
    StubClientTransport,
    StubContractError,
    StubServer,
    contracts,
    local_client,
    stub_action,
)
from servicewire.testing.stub_server import make_stub_action_class
from tests.testing.services import UserServer, user

SEEN: list[str] = []


class RecordingMiddleware(ServerMiddleware):
    def action(self, process_action: ProcessAction) -> ProcessAction:
        def record(request: EnrichedActionRequest) -> ActionResponse:
            SEEN.append(request.action)
            return process_action(request)

        return record


@pytest.fixture(autouse=True)
def clear_seen() -> None:
    SEEN.clear()


@pytest.mark.parametrize(
    ("action", "class_name"),
    [
        ("update_foo", "UpdateFoo"),
        ("get", "Get"),
        ("get-user.v2", "GetUserV2"),
        ("2fa_check", "Action2faCheck"),
        ("alreadyCamel", "AlreadyCamel"),
    ],
)
def test_stub_action_classes_are_named_in_camel_case(action: str, class_name: str) -> None:
    action_class = make_stub_action_class(action)
    assert action_class.__name__ == class_name
    assert action_class.__qualname__ == class_name


def test_a_stub_server_needs_no_settings_and_has_no_transport() -> None:
    server = StubServer()
    assert server.service_name == "stub"
    assert server.transport is None


class MiddlewareStubServer(StubServer):
    service_name = "inline"


def test_stubbed_actions_run_through_the_whole_server_code_path() -> None:
    client = local_client(
        MiddlewareStubServer,
        {"middleware": [{"path": f"{__name__}:RecordingMiddleware"}]},
    )
    try:
        client.call_action("inline", "status")
        server = client.handlers["inline"].transport.server  # type: ignore[attr-defined]
        server.stub_action("update_foo", body={"updated": True})
        server.stub_action("fail_foo", errors=[Error("NOPE", "no", field="foo")])
        assert client.call_action("inline", "update_foo").body == {"updated": True}
        with pytest.raises(CallActionError) as failed:
            client.call_action("inline", "fail_foo")
        with pytest.raises(CallActionError) as unknown:
            client.call_action("inline", "missing")
        described = client.call_action("inline", "introspect").body["actions"]
    finally:
        client.close()
    assert SEEN == ["status", "update_foo", "fail_foo", "introspect"]
    assert [(e.code, e.field) for e in failed.value.actions[0].errors] == [("NOPE", "foo")]
    assert [e.code for e in unknown.value.actions[0].errors] == ["UNKNOWN"]
    assert type(server).action_class_map == {}
    assert set(server.action_class_map) == {"update_foo", "fail_foo"}
    assert described["update_foo"]["documentation"] == "A stub of the action 'update_foo'."


def test_a_stub_server_answers_a_fresh_copy_of_its_body_each_time() -> None:
    client = StubClient({"svc": {"get": {"body": {"items": [1]}}}})
    client.call_action("svc", "get").body["items"].append(2)
    assert client.call_action("svc", "get").body == {"items": [1]}


def test_a_stub_server_checks_its_bodies_against_a_registered_contract() -> None:
    contracts.register("users", UserServer)

    class Users(StubServer):
        service_name = "users"

    server = Users()
    server.stub_action("get_user", body={"user": user(1)})
    server.stub_action("get_user", errors=[Error("NOT_FOUND", "none")])
    with pytest.raises(StubContractError, match="MISSING user: Field required"):
        server.stub_action("get_user", body={"person": user(1)})


def test_the_stub_transport_serves_its_action_map() -> None:
    client = Client(
        {
            "svc": {
                "transport": {
                    "path": "servicewire.testing:StubClientTransport",
                    "kwargs": {
                        "action_map": {
                            "get": {"body": {"got": 1}},
                            "fail": {"errors": [{"code": "BAD", "message": "bad"}]},
                        }
                    },
                }
            }
        }
    )
    assert client.call_action("svc", "get").body == {"got": 1}
    with pytest.raises(CallActionError, match="fail: BAD: bad"):
        client.call_action("svc", "fail")
    transport: Any = client.handlers["svc"].transport
    assert isinstance(transport, StubClientTransport)
    assert transport.server.service_name == "svc"
    transport.stub_action("later", body={"later": True})
    assert client.call_action("svc", "later").body == {"later": True}


def test_a_stub_transport_made_by_hand_defaults_to_the_service_test() -> None:
    transport = StubClientTransport(action_map={"ping": {"body": {"pong": True}}})
    assert transport.server.service_name == "test"
    assert type(transport.server).__name__ == "StubTestServer"
    transport.close()


def test_a_malformed_action_map_is_an_invalid_setting() -> None:
    with pytest.raises(InvalidSettings) as raised:
        Client(
            {
                "svc": {
                    "transport": {
                        "path": "servicewire.testing:StubClientTransport",
                        "kwargs": {"action_map": {"get": {"bdy": {}}}},
                    }
                }
            }
        )
    assert "kwargs.action_map.get.bdy" in str(raised.value)


def test_the_asyncio_client_refuses_the_stub_transport_and_says_why() -> None:
    with pytest.raises(ImproperlyConfigured, match="has no asyncio version"):
        AsyncClient({"svc": {"transport": {"path": "servicewire.testing:StubClientTransport"}}})


def test_a_stub_client_serves_its_services_and_takes_new_ones() -> None:
    client = StubClient(
        {"users": {"get_user": {"body": {"user": {"id": 1}}}}},
        context={"caller": "a test"},
    )
    assert client.call_action("users", "get_user").body == {"user": {"id": 1}}
    client.stub_action("users", "update_user", errors=[{"code": "DENIED", "message": "no"}])
    client.stub_action("billing", "charge", body={"charged": True})
    with pytest.raises(CallActionError, match="DENIED"):
        client.call_action("users", "update_user")
    response = client.call_actions(
        "users", [{"action": "get_user"}, {"action": "get_user"}], continue_on_error=True
    )
    assert len(response.actions) == 2
    assert client.call_action("billing", "charge").body == {"charged": True}
    assert client.context == {"caller": "a test"}


def test_stub_action_answers_before_a_stub_client_does() -> None:
    client = StubClient({"svc": {"get": {"body": {"from": "stub client"}}}})
    client.call_action("svc", "get")
    with stub_action("svc", "get", body={"from": "stub_action"}):
        assert client.call_action("svc", "get").body == {"from": "stub_action"}
        client.stub_action("svc", "other", body={"from": "stub client"})
        assert client.call_action("svc", "other").body == {"from": "stub client"}


class PresetStubServer(StubServer):
    service_name = "preset"
    action_class_map: ClassVar[dict[str, Any]] = {
        "ping": make_stub_action_class("ping", {"pong": True})
    }


def test_a_stub_server_subclass_may_list_its_stub_actions() -> None:
    client = local_client(PresetStubServer)
    try:
        assert client.call_action("preset", "ping").body == {"pong": True}
    finally:
        client.close()
