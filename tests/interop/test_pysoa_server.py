"""A servicewire client calling a PySOA 1.4.9 server over Redis."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from servicewire import CallActionError, CallJobError, Client
from tests.interop.services import typed_values
from tests.support.services import RedisServer
from tests.transport.redis.support import make_client

pytestmark = pytest.mark.usefixtures("pysoa_server")


@pytest.fixture(scope="module")
def transport(redis_server: RedisServer) -> dict[str, Any]:
    return {"backend_layer_kwargs": {"hosts": [redis_server.url]}}


@pytest.fixture(scope="module")
def client(transport: dict[str, Any]) -> Client:
    return make_client("interop", transport)


def action_errors(client: Client, action: str, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(CallActionError) as caught:
        client.call_action("interop", action, body, timeout=10)
    return [
        (error.code, error.field, error.message, error.is_caller_error)
        for response in caught.value.actions
        for error in response.errors
    ]


def test_success(client: Client) -> None:
    assert client.call_action("interop", "square", {"number": 4}).body == {"square": 16}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_protocol_versions(transport: dict[str, Any], version: int) -> None:
    versioned = make_client("interop", {**transport, "protocol_version": version})
    assert versioned.call_action("interop", "echo", {"v": version}).body == {"v": version}


def test_json_serializer(transport: dict[str, Any]) -> None:
    json_client = make_client(
        "interop",
        {
            **transport,
            "default_serializer_config": {"path": "servicewire.serializer:JSONSerializer"},
        },
    )
    body = {"text": "héllo", "list": [1, 2.5, None]}
    assert json_client.call_action("interop", "echo", body).body == body


def test_action_error(client: Client) -> None:
    assert action_errors(client, "fail", {}) == [("NOPE", "reason", "Failed on purpose", True)]


def test_server_error(client: Client) -> None:
    with pytest.raises(CallActionError) as caught:
        client.call_action("interop", "boom", {})
    [error] = caught.value.actions[0].errors
    assert (error.code, error.message, error.is_caller_error) == (
        "SERVER_ERROR",
        "Internal server error: boom",
        False,
    )
    assert error.traceback is not None
    assert "ValueError: boom" in error.traceback


def test_unknown_action(client: Client) -> None:
    assert action_errors(client, "nope", {}) == [
        ("UNKNOWN", "action", 'The action "nope" was not found on this server.', True)
    ]


def test_schema_errors(client: Client) -> None:
    assert [e[:2] for e in action_errors(client, "square", {})] == [("MISSING", "number")]
    assert [e[:2] for e in action_errors(client, "square", {"number": "x"})] == [
        ("INVALID", "number")
    ]
    assert [e[0] for e in action_errors(client, "square", {"number": 1, "extra": 2})] == ["UNKNOWN"]


def test_job_error(client: Client) -> None:
    with pytest.raises(CallJobError) as caught:
        client.call_action("interop", "echo", {}, context={"fail_job": True})
    assert [(e.code, e.message, e.is_caller_error) for e in caught.value.errors] == [
        ("NOT_AUTHORIZED", "Job refused on purpose", False)
    ]


def test_switches(client: Client) -> None:
    assert client.call_action("interop", "switched", {}, switches=[5, 7]).body == {
        "five": True,
        "switches": [5, 7],
    }
    assert client.call_action("interop", "switched", {}).body["five"] is False


def test_msgpack_extension_types_to_the_server(client: Client) -> None:
    sent = typed_values()
    echoed = client.call_action("interop", "echo", sent).body
    assert echoed == sent
    assert {key: type(value) for key, value in echoed.items()} == {
        key: type(value) for key, value in sent.items()
    }


def test_msgpack_extension_types_from_the_server(client: Client) -> None:
    received = client.call_action("interop", "types", {}).body
    assert received == typed_values()
    assert received["aware"].utcoffset().total_seconds() == 0


def test_chunked_response(client: Client) -> None:
    data = client.call_action("interop", "big", {"size": 300000, "tag": "<start>"}).body["data"]
    assert data.startswith("<start>")
    assert len(data) == 300000


def test_parallel_calls(client: Client) -> None:
    actions = [{"action": "echo", "body": {"i": i}} for i in range(10)]
    responses = client.call_actions_parallel("interop", actions)
    assert [response.body for response in responses] == [{"i": i} for i in range(10)]


def test_pysoa_server_is_still_running(pysoa_server: subprocess.Popen[str]) -> None:
    assert pysoa_server.poll() is None
