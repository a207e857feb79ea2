"""The asyncio client transport, against a server running in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from servicewire.errors import InvalidMessageError, MessageReceiveTimeout
from servicewire.settings import import_path
from servicewire.transport.base import ReceivedMessage
from servicewire.transport.sql import AsyncSqlClientTransport, SqlClientTransport
from tests.transport.sql.conftest import SqlDatabase


def _job(n: int, suppress_response: bool = False) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False, "suppress_response": suppress_response},
        "context": {"correlation_id": f"c{n}", "switches": []},
        "actions": [{"action": "echo", "body": {"n": n}}],
    }


@pytest.fixture
def serving(database: SqlDatabase) -> Iterator[None]:
    server = database.server()
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        yield
    finally:
        server.shutting_down = True
        thread.join(timeout=30)


def test_sync_transport_names_its_asyncio_twin() -> None:
    assert SqlClientTransport.async_transport_class is not None
    assert import_path(SqlClientTransport.async_transport_class) is AsyncSqlClientTransport


@pytest.mark.usefixtures("serving")
def test_requests_in_flight_are_all_answered(database: SqlDatabase) -> None:
    async def scenario() -> list[ReceivedMessage]:
        transport = AsyncSqlClientTransport("recorder", **database.kwargs())
        try:
            for n in range(5):
                await transport.send_request_message(n, {}, _job(n))
            return [await transport.receive_response_message(10) for _ in range(5)]
        finally:
            await transport.aclose()

    replies = asyncio.run(scenario())

    assert sorted(reply.request_id for reply in replies if reply.request_id is not None) == [
        0, 1, 2, 3, 4,
    ]  # fmt: skip
    for reply in replies:
        assert reply.body is not None
        assert reply.body["actions"][0]["body"] == {"n": reply.request_id}


@pytest.mark.usefixtures("serving")
def test_concurrent_receivers_take_turns(database: SqlDatabase) -> None:
    async def scenario() -> set[int | None]:
        transport = AsyncSqlClientTransport("recorder", **database.kwargs())
        try:
            await transport.send_request_message(1, {}, _job(1))
            await transport.send_request_message(2, {}, _job(2))
            replies = await asyncio.gather(
                transport.receive_response_message(10), transport.receive_response_message(10)
            )
            return {reply.request_id for reply in replies}
        finally:
            await transport.aclose()

    assert asyncio.run(scenario()) == {1, 2}


def test_nothing_outstanding_returns_no_message(database: SqlDatabase) -> None:
    async def scenario() -> ReceivedMessage:
        transport = AsyncSqlClientTransport("recorder", **database.kwargs())
        await transport.send_request_message(
            1, {}, _job(1, suppress_response=True), expects_reply=False
        )
        return await transport.receive_response_message(10)

    assert asyncio.run(scenario()) == (None, None, None)


def test_no_reply_in_time_raises_message_receive_timeout(database: SqlDatabase) -> None:
    async def scenario() -> None:
        transport = AsyncSqlClientTransport("recorder", **database.kwargs())
        try:
            await transport.send_request_message(1, {}, _job(1))
            await transport.receive_response_message(0.1)
        finally:
            await transport.aclose()

    with pytest.raises(MessageReceiveTimeout, match="recorder"):
        asyncio.run(scenario())


def test_fan_out_refuses_requests_that_expect_a_reply(database: SqlDatabase) -> None:
    transport = AsyncSqlClientTransport("recorder", delivery="fan_out", **database.kwargs())

    with pytest.raises(InvalidMessageError, match="suppress_response"):
        asyncio.run(transport.send_request_message(1, {}, _job(1)))


def test_a_request_counts_as_outstanding_while_it_is_being_written(
    database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another task's receive may take the reply while the write is still awaited: it must
    # find the request outstanding, not conclude that no reply is coming.
    transport = AsyncSqlClientTransport("recorder", **database.kwargs())
    seen_during_write: list[int] = []
    write = transport.core.write_request

    def recording_write(*args: Any) -> None:
        seen_during_write.append(transport.requests_outstanding)
        write(*args)

    monkeypatch.setattr(transport.core, "write_request", recording_write)

    asyncio.run(send_one_then_close(transport))
    assert seen_during_write == [1]
    assert transport.requests_outstanding == 1


async def send_one_then_close(transport: AsyncSqlClientTransport) -> None:
    try:
        await transport.send_request_message(1, {}, _job(1))
    finally:
        await transport.aclose()


def test_a_request_that_could_not_be_written_is_not_outstanding(
    database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = AsyncSqlClientTransport("recorder", **database.kwargs())

    def failing_write(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(transport.core, "write_request", failing_write)

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(send_one_then_close(transport))
    assert transport.requests_outstanding == 0
