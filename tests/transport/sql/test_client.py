"""The client transport, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert

from servicewire import Client, Server
from servicewire.errors import InvalidMessageError, MessageReceiveTimeout, MessageTooLarge
from servicewire.transport.sql import SqlClientTransport, SqlServerTransport
from servicewire.transport.sql.database import open_database
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.services import RecordingServer

JOB: dict[str, Any] = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c1", "switches": []},
    "actions": [{"action": "echo", "body": {}}],
}


def test_nothing_outstanding_returns_no_message_at_once(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())

    assert client.receive_response_message(30) == (None, None, None)


def test_no_reply_in_time_raises_message_receive_timeout(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(1, {}, JOB)

    with pytest.raises(MessageReceiveTimeout, match=r"'recorder' within 0\.1 s"):
        client.receive_response_message(0.1)


def test_request_over_the_size_limit_raises_message_too_large(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", maximum_message_size_in_bytes=500, **database.kwargs())
    job = {**JOB, "actions": [{"action": "echo", "body": {"x": "y" * 1000}}]}

    with pytest.raises(MessageTooLarge) as raised:
        client.send_request_message(1, {}, job)

    assert raised.value.message_size_in_bytes > 1000


def test_request_carries_the_threads_reply_identity(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    server = SqlServerTransport("recorder", **database.kwargs())
    meta: dict[str, Any] = {"client_version": [1, 4, 9]}

    client.send_request_message(3, meta, JOB)
    request_id, received_meta, _body = server.receive_request_message()

    assert request_id == 3
    assert received_meta == {"client_version": [1, 4, 9], "reply_to": meta["reply_to"]}
    assert meta["reply_to"].startswith(client.core.client_key + "!")


def test_undecodable_reply_raises_invalid_message_keeping_the_good_ones(
    database: SqlDatabase,
) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(1, {}, JOB)
    client.send_request_message(2, {}, JOB)
    server = SqlServerTransport("recorder", **database.kwargs())
    _request_id, meta, _body = server.receive_request_message()
    assert meta is not None
    server.send_response_message(1, meta, {"errors": [], "actions": []})
    server.complete_request_message(1, meta)
    opened = open_database(database.url, database.table_prefix)
    database.execute(
        insert(database.tables.replies).values(
            reply_to=meta["reply_to"], request_id=2, payload=b"\xc1", expires_at=opened.now + 60
        )
    )

    with pytest.raises(InvalidMessageError, match="reply to request 2 cannot be decoded"):
        client.receive_response_message(5)

    assert client.receive_response_message(5).request_id == 1
    assert client.receive_response_message(5) == (None, None, None)


def test_fan_out_client_refuses_requests_that_expect_a_reply(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", delivery="fan_out", **database.kwargs())

    with pytest.raises(InvalidMessageError, match="suppress_response=True"):
        client.send_request_message(1, {}, JOB)


def test_service_and_caller_need_no_configuration_on_one_machine(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICEWIRE_SQL_URL", f"sqlite:///{tmp_path}/shared/queues.db")
    server: Server = RecordingServer({})
    client = Client({"recorder": {}})

    request_id = client.send_request("recorder", [{"action": "echo", "body": {"a": 1}}])
    server.handle_next_request()

    responses = dict(client.get_all_responses("recorder", receive_timeout_in_seconds=5))
    assert responses[request_id].actions[0].body == {"a": 1}
    assert (tmp_path / "shared" / "queues.db").exists()
