"""The work-queue deliveries on their own: at least once (leases, dead letters, the next
request taken while finishing one) and at most once, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from servicewire.transport.sql import DeadLetters, SqlClientTransport
from servicewire.transport.sql.delivery import Held
from servicewire.transport.sql.work_queue_delivery import AtMostOnceDelivery, WorkQueueDelivery
from tests.support.metrics import RecordingMetrics
from tests.support.processes import wait_until
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.deliveries import (
    JOB,
    SERVICE,
    WORKER,
    delivery_context,
    opened,
    server_settings,
)

ANSWER: dict[str, Any] = {"actions": [], "errors": []}


def _send(database: SqlDatabase, *request_ids: int) -> SqlClientTransport:
    client = SqlClientTransport(SERVICE, **database.kwargs())
    for request_id in request_ids:
        client.send_request_message(request_id, {}, JOB)
    return client


def _requests(database: SqlDatabase) -> list[tuple[int, int, str | None]]:
    table = database.tables.requests
    rows = database.execute(
        select(table.c.request_id, table.c.attempts, table.c.taken_by).order_by(table.c.id)
    )
    return [tuple(row) for row in rows]


def _replies(database: SqlDatabase) -> list[int]:
    return [row.request_id for row in database.execute(select(database.tables.replies))]


def _taken(delivery: WorkQueueDelivery | AtMostOnceDelivery) -> Held:
    held = delivery.take()
    assert held is not None
    return held


def test_a_request_stays_leased_until_finished_and_its_reply_comes_with_the_acknowledgement(
    database: SqlDatabase,
) -> None:
    _send(database, 1)
    with opened(WorkQueueDelivery, server_settings(database)) as delivery:
        held = _taken(delivery)

        assert (held.message.request_id, held.meta["reply_to"]) == (1, held.message.reply_to)
        assert held.body["actions"] == JOB["actions"]
        assert _requests(database) == [(1, 1, WORKER)]
        assert delivery.renew(held) is True
        delivery.respond(held, 1, held.meta, ANSWER)
        assert _replies(database) == []

        delivery.finish(held)

        assert _requests(database) == []
        assert _replies(database) == [1]


def test_a_response_to_a_request_not_held_is_written_at_once(database: SqlDatabase) -> None:
    client = _send(database, 1)
    with opened(WorkQueueDelivery, server_settings(database)) as delivery:
        reply_to = _taken(delivery).message.reply_to

        delivery.respond(None, 666, {"reply_to": reply_to}, ANSWER)

        assert _replies(database) == [666]
        assert client.receive_response_message(5).request_id == 666


def test_finishing_takes_the_next_request_on_postgresql_and_close_gives_it_back(
    database: SqlDatabase,
) -> None:
    _send(database, 1, 2)
    with opened(WorkQueueDelivery, server_settings(database)) as delivery:
        delivery.finish(_taken(delivery))

        # One statement finished request 1 and took request 2 (PostgreSQL only; on SQLite a
        # statement costs no round trip).
        taken_ahead = [(2, 1, WORKER)] if database.kind == "postgresql" else [(2, 0, None)]
        assert _requests(database) == taken_ahead
        delivery.close()

        assert _requests(database) == [(2, 0, None)]
        assert _taken(delivery).message.request_id == 2


def test_with_workers_finishing_takes_nothing_ahead(database: SqlDatabase) -> None:
    _send(database, 1, 2)
    settings = server_settings(database)
    delivery = WorkQueueDelivery(settings)
    delivery.allow_workers(3, "the test's server")
    with delivery_context(settings) as context:
        delivery.open(context)
        delivery.finish(_taken(delivery))

        assert _requests(database) == [(2, 0, None)]


def test_a_request_taken_too_often_is_buried_instead_of_handed_out(
    database: SqlDatabase,
) -> None:
    _send(database, 1)
    metrics = RecordingMetrics()
    dead_letters = DeadLetters(database.url, database.table_prefix)
    settings = server_settings(database, max_attempts=1, visibility_timeout_in_seconds=0.2)
    delivery = WorkQueueDelivery(settings)
    with delivery_context(settings, metrics) as context:
        delivery.open(context)
        held = _taken(delivery)
        context.lease_keeper.release(held.key)  # as if its server had died

        wait_until(
            lambda: delivery.take() is None and dead_letters.list(SERVICE), "the dead letter"
        )

        (dead,) = dead_letters.list(SERVICE)
        assert (dead.request_id, dead.attempts) == (1, 1)
        assert "1 deliveries were not finished" in dead.last_error
        assert _requests(database) == []
        assert metrics.counts["sql.request.dead_lettered"] == 1


def test_an_undecodable_request_is_buried_and_its_error_names_the_reply_route(
    database: SqlDatabase,
) -> None:
    _send(database, 1)
    with opened(WorkQueueDelivery, server_settings(database)) as delivery:
        message = _taken(delivery).message

        error = delivery.fail(message, ValueError("not msgpack"))

        assert error.request_id == 1
        assert error.meta == {"reply_to": message.reply_to}
        assert "cannot be decoded and is now a dead letter: not msgpack" in str(error)
        assert _requests(database) == []
        (dead,) = DeadLetters(database.url, database.table_prefix).list(SERVICE)
        assert dead.last_error == "Undecodable payload: not msgpack"


def test_at_most_once_deletes_the_request_as_it_is_taken_and_answers_at_once(
    database: SqlDatabase,
) -> None:
    client = _send(database, 1)
    with opened(
        AtMostOnceDelivery, server_settings(database, delivery_guarantee="at_most_once")
    ) as delivery:
        held = _taken(delivery)
        assert _requests(database) == []
        assert delivery.renew(held) is True

        delivery.respond(held, 1, held.meta, ANSWER)
        assert _replies(database) == [1]
        delivery.finish(held)

        assert client.receive_response_message(5).request_id == 1


def test_at_most_once_buries_an_undecodable_request_already_deleted(
    database: SqlDatabase,
) -> None:
    _send(database, 1)
    with opened(
        AtMostOnceDelivery, server_settings(database, delivery_guarantee="at_most_once")
    ) as delivery:
        error = delivery.fail(_taken(delivery).message, ValueError("not msgpack"))

        assert error.request_id == 1
        (dead,) = DeadLetters(database.url, database.table_prefix).list(SERVICE)
        assert dead.request_id == 1
