"""Fan-out delivery on its own: one consumer's messages, their outcome, retries and dead
letters, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from servicewire.errors import ImproperlyConfigured
from servicewire.transport.sql import DeadLetters, SqlClientTransport
from servicewire.transport.sql.delivery import Held
from servicewire.transport.sql.fan_out_delivery import FanOutDelivery
from servicewire.transport.sql.settings import SqlServerTransportSettings
from tests.support.metrics import RecordingMetrics
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.deliveries import JOB, SERVICE, opened, server_settings

SERVER_ERROR: dict[str, Any] = {
    "actions": [],
    "errors": [{"code": "SERVER_ERROR", "message": "the disk is full"}],
}
CALLER_ERROR: dict[str, Any] = {
    "actions": [],
    "errors": [{"code": "INVALID", "message": "no such user", "is_caller_error": True}],
}


def _publish(database: SqlDatabase, request_id: int = 1) -> None:
    publisher = SqlClientTransport(SERVICE, **database.kwargs(delivery="fan_out"))
    job = {**JOB, "control": {"continue_on_error": False, "suppress_response": True}}
    publisher.send_request_message(request_id, {}, job, expects_reply=False)


def _settings(database: SqlDatabase, **settings: Any) -> SqlServerTransportSettings:
    return server_settings(database, delivery="fan_out", consumer="audit", **settings)


def _taken(delivery: FanOutDelivery) -> Held:
    held = delivery.take()
    assert held is not None
    return held


def _cursor(database: SqlDatabase) -> tuple[int, int, str | None]:
    cursors = database.tables.fanout_cursors
    (row,) = database.execute(select(cursors.c.position, cursors.c.attempts, cursors.c.last_error))
    return tuple(row)


def test_a_consumer_refuses_workers() -> None:
    delivery = FanOutDelivery(
        server_settings(SqlDatabase("sqlite", "sqlite://", "t_"), delivery="fan_out", consumer="a")
    )
    with pytest.raises(ImproperlyConfigured, match=r"server x delivers .* cannot use 4 workers"):
        delivery.allow_workers(4, "server x")


def test_a_message_asks_for_its_outcome_and_is_passed_once_it_succeeds(
    database: SqlDatabase,
) -> None:
    _publish(database)
    with opened(FanOutDelivery, _settings(database)) as delivery:
        held = _taken(delivery)

        assert held.body["control"]["suppress_response"] is False
        assert delivery.details == {"consumer": "audit"}
        assert delivery.renew(held) is True
        delivery.respond(held, 1, held.meta, {"actions": [], "errors": []})
        delivery.finish(held)

        assert _cursor(database) == (held.message.row_id, 0, None)
        assert database.execute(select(database.tables.replies)) == []
        assert delivery.take() is None


def test_a_failure_of_the_server_is_retried(database: SqlDatabase) -> None:
    _publish(database)
    metrics = RecordingMetrics()
    with opened(
        FanOutDelivery, _settings(database, fan_out_retry_delay_in_seconds=0), metrics
    ) as delivery:
        held = _taken(delivery)
        delivery.respond(held, 1, held.meta, SERVER_ERROR)

        delivery.finish(held)

        position, attempts, last_error = _cursor(database)
        assert (position, attempts) == (held.message.row_id - 1, 1)
        assert last_error is not None
        assert "the disk is full" in last_error
        assert metrics.counts["sql.fan_out.retried"] == 1
        again = _taken(delivery)
        assert (again.message.row_id, again.message.attempts) == (held.message.row_id, 2)


def test_a_failure_of_the_caller_is_buried_at_once(database: SqlDatabase) -> None:
    _publish(database)
    metrics = RecordingMetrics()
    with opened(FanOutDelivery, _settings(database), metrics) as delivery:
        held = _taken(delivery)
        delivery.respond(held, 1, held.meta, CALLER_ERROR)

        delivery.finish(held)

        (dead,) = DeadLetters(database.url, database.table_prefix).list(SERVICE)
        assert (dead.request_id, dead.consumer) == (1, "audit")
        assert metrics.counts["sql.fan_out.dead_lettered"] == 1
        assert delivery.take() is None


def test_an_undecodable_message_is_buried_for_this_consumer(database: SqlDatabase) -> None:
    _publish(database)
    with opened(FanOutDelivery, _settings(database)) as delivery:
        message = _taken(delivery).message

        error = delivery.fail(message, ValueError("not msgpack"))

        assert (str(error), error.request_id, error.meta) == (
            "Undecodable payload: not msgpack",
            1,
            None,
        )
        (dead,) = DeadLetters(database.url, database.table_prefix).list(SERVICE)
        assert dead.consumer == "audit"
        assert delivery.take() is None
