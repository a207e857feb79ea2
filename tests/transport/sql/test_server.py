"""The server transport with a real server, on SQLite and PostgreSQL (work-queue delivery)."""

from __future__ import annotations

import datetime
import decimal
import logging
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text

from servicewire import Client, JobResponse, MetricName
from servicewire.errors import (
    ImproperlyConfigured,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
)
from servicewire.transport.sql import DeadLetters, SqlClientTransport, SqlServerTransport
from servicewire.transport.sql.database import open_database
from tests.support.metrics import RecordingMetrics, check_sizes_recorded, metrics_of
from tests.support.processes import wait_until
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.services import RecordingServer

JOB: dict[str, Any] = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c1", "switches": []},
    "actions": [{"action": "echo", "body": {"x": 1}}],
}


def _responses(client: Client) -> dict[int, JobResponse]:
    return dict(client.get_all_responses("recorder", receive_timeout_in_seconds=10))


def _wait_until_expired(database: SqlDatabase, table: Any) -> None:
    now = open_database(database.url, database.table_prefix).now
    wait_until(
        lambda: database.execute(select(table.c.id).where(table.c.expires_at < now)),
        "the message to expire",
    )


def _counts(server: RecordingServer) -> dict[str, int]:
    return metrics_of(server).counts


def test_request_is_answered_with_extension_types_intact(database: SqlDatabase) -> None:
    server, client = database.server(), database.client()
    body = {"when": datetime.datetime(2024, 1, 2, 3, 4, 5, 6), "price": decimal.Decimal("9.99")}

    request_id = client.send_request("recorder", [{"action": "echo", "body": body}])
    server.handle_next_request()

    response = _responses(client)[request_id]
    assert response.errors == []
    assert response.actions[0].body == body


def test_finished_request_leaves_no_rows_behind(database: SqlDatabase) -> None:
    server, client = database.server(), database.client()

    client.send_request("recorder", [{"action": "echo", "body": {}}])
    server.handle_next_request()
    _responses(client)

    assert database.execute(select(database.tables.requests)) == []
    assert database.execute(select(database.tables.replies)) == []


def test_suppressed_response_is_not_written(database: SqlDatabase) -> None:
    server, client = database.server(), database.client()

    client.send_request("recorder", [{"action": "echo", "body": {}}], suppress_response=True)
    server.handle_next_request()

    assert database.execute(select(database.tables.requests)) == []
    assert database.execute(select(database.tables.replies)) == []


def test_expired_request_is_dropped_logged_and_counted(
    database: SqlDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, client = database.server(), database.client()
    log = tmp_path / "ran.log"
    client.send_request(
        "recorder",
        [{"action": "record", "body": {"log": str(log), "n": 1}}],
        message_expiry_in_seconds=0.05,
    )
    _wait_until_expired(database, database.tables.requests)

    with caplog.at_level(logging.WARNING, "servicewire.transport.sql"):
        server.handle_next_request()

    assert not log.exists()
    assert "expired" in caplog.text
    assert metrics_of(server).recorded("counter", MetricName.TRANSPORT_MESSAGE_EXPIRED) == [
        (1, {"service": "recorder"})
    ]
    assert database.execute(select(database.tables.requests)) == []


def test_expired_reply_is_dropped_by_the_client(
    database: SqlDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    server = database.server(message_expiry_in_seconds=0.05)
    metrics = RecordingMetrics()
    client = SqlClientTransport("recorder", metrics, **database.kwargs())
    client.send_request_message(5, {}, JOB)
    server.handle_next_request()
    _wait_until_expired(database, database.tables.replies)

    with caplog.at_level(logging.WARNING, "servicewire.transport.sql"):
        assert client.receive_response_message(5) == (None, None, None)

    assert "Dropped the reply to request 5" in caplog.text
    assert metrics.recorded("counter", MetricName.TRANSPORT_MESSAGE_EXPIRED) == [
        (1, {"service": "recorder"})
    ]


def test_sizes_of_requests_and_responses_are_recorded_per_service(
    database: SqlDatabase,
) -> None:
    server, metrics = database.server(), RecordingMetrics()
    client = SqlClientTransport("recorder", metrics, **database.kwargs())
    job = {**JOB, "actions": [{"action": "echo", "body": {"text": "x" * 5000}}]}
    client.send_request_message(6, {}, job)
    server.handle_next_request()
    assert client.receive_response_message(5).request_id == 6
    check_sizes_recorded(metrics, metrics_of(server), "recorder", 5000)


def test_response_over_the_size_limit_is_answered_response_too_large(
    database: SqlDatabase,
) -> None:
    server = database.server(maximum_message_size_in_bytes=1000)
    client = database.client()

    request_id = client.send_request("recorder", [{"action": "echo", "body": {"x": "y" * 2000}}])
    server.handle_next_request()

    (error,) = _responses(client)[request_id].errors
    assert error.code == "RESPONSE_TOO_LARGE"


def test_full_queue_refuses_requests_naming_its_capacity(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", queue_capacity=2, **database.kwargs())
    client.send_request_message(1, {}, JOB)
    client.send_request_message(2, {}, JOB)

    with pytest.raises(MessageSendError, match=r"full: 2 requests are waiting"):
        client.send_request_message(3, {}, JOB)


def test_undecodable_row_is_answered_dead_lettered_and_passed(database: SqlDatabase) -> None:
    server = database.server()
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(1, {}, JOB)  # creates the tables; answered last
    reply_to = client._thread_state().inbox.reply_to
    database.execute(delete(database.tables.requests))
    now = open_database(database.url, database.table_prefix).now
    database.execute(
        insert(database.tables.requests).values(
            service="recorder",
            request_id=666,
            reply_to=reply_to,
            payload=b"\xc1 not msgpack",
            enqueued_at=now,
            expires_at=now + 60,
            visible_at=now,
            attempts=0,
        )
    )
    client.send_request_message(2, {}, JOB)

    server.handle_next_request()
    server.handle_next_request()

    first, second = client.receive_response_message(5), client.receive_response_message(5)
    assert first.request_id == 666
    assert first.body is not None
    assert first.body["errors"][0]["code"] == "INVALID"
    assert second.request_id == 2
    assert second.body is not None
    assert second.body["errors"] == []
    (dead,) = DeadLetters(database.url, database.table_prefix).list("recorder")
    assert dead.request_id == 666
    assert "Undecodable" in dead.last_error
    assert _counts(server)["sql.request.undecodable"] == 1
    assert _counts(server)["server.error.bad_message"] == 1


def test_threads_sharing_a_client_each_get_their_own_replies(database: SqlDatabase) -> None:
    server = database.server()
    serving = threading.Thread(target=server.run)
    serving.start()
    client = database.client()
    results: dict[int, Any] = {}

    def call(n: int) -> None:
        results[n] = client.call_action("recorder", "echo", {"n": n}, timeout=30).body

    try:
        callers = [threading.Thread(target=call, args=(n,)) for n in range(6)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=60)
    finally:
        server.shutting_down = True
        serving.join(timeout=30)

    assert results == {n: {"n": n} for n in range(6)}


def test_closing_gives_back_a_request_taken_but_not_started(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    server = SqlServerTransport("recorder", receive_timeout_in_seconds=1, **database.kwargs())
    client.send_request_message(1, {}, JOB)
    client.send_request_message(2, {}, JOB)
    request_id, meta, _body = server.receive_request_message()
    assert request_id == 1
    assert meta is not None
    server.send_response_message(1, meta, {"actions": [], "errors": []})
    server.complete_request_message(1, meta)  # on PostgreSQL, this takes request 2 too
    server.close()

    # Given back, not left to the visibility timeout (30 s).
    successor = SqlServerTransport("recorder", receive_timeout_in_seconds=1, **database.kwargs())
    assert successor.receive_request_message().request_id == 2


def test_at_most_once_removes_the_request_as_it_is_received(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(1, {}, JOB)
    server = SqlServerTransport("recorder", delivery_guarantee="at_most_once", **database.kwargs())

    request_id, meta, _body = server.receive_request_message()

    assert request_id == 1
    assert database.execute(select(database.tables.requests)) == []
    server.send_response_message(1, meta, {"errors": [], "actions": []})
    assert client.receive_response_message(5).request_id == 1


def _abandon(database: SqlDatabase, **settings: Any) -> int:
    """Take the next request and die without finishing it; return its request id."""
    server = SqlServerTransport(
        "recorder", receive_timeout_in_seconds=10, **database.kwargs(**settings)
    )
    request_id, _meta, _body = server.receive_request_message()
    server.close()  # stops renewing the lease, as a dead process would
    assert request_id is not None
    return request_id


def test_unfinished_request_is_delivered_again_after_the_visibility_timeout(
    database: SqlDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(9, {}, JOB)
    assert _abandon(database, visibility_timeout_in_seconds=0.3) == 9
    server = database.server(receive_timeout_in_seconds=10)

    with caplog.at_level(logging.WARNING, "servicewire.transport.sql"):
        server.handle_next_request()

    assert client.receive_response_message(5).request_id == 9
    assert "delivered for the 2nd time" in caplog.text
    assert _counts(server)["sql.request.redelivered"] == 1


def test_message_details_give_the_queue_and_the_delivery_attempt(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(9, {}, JOB)
    assert _abandon(database, visibility_timeout_in_seconds=0.3) == 9
    server = SqlServerTransport("recorder", receive_timeout_in_seconds=10, **database.kwargs())

    request_id, meta, _body = server.receive_request_message()
    assert request_id is not None
    assert meta is not None
    details = server.message_details(request_id, meta)

    assert (details.request_id, details.queue, details.delivery_attempt) == (9, "recorder", 2)
    assert details.extra["worker_id"] == server.worker_id
    assert isinstance(details.extra["row_id"], int)
    assert details.extra["enqueued_at"] > 0
    server.complete_request_message(request_id, meta)
    # Once completed, the transport no longer knows the request.
    assert server.message_details(request_id, meta).delivery_attempt is None


def test_request_never_finished_becomes_a_dead_letter_and_can_be_requeued(
    database: SqlDatabase,
) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(4, {}, JOB)
    settings = {"visibility_timeout_in_seconds": 0.2, "max_attempts": 2}
    _abandon(database, **settings)
    _abandon(database, **settings)
    server = database.server(receive_timeout_in_seconds=1, **settings)

    server.handle_next_request()  # finds the third delivery over the limit

    assert database.execute(select(database.tables.requests)) == []
    dead_letters = DeadLetters(database.url, database.table_prefix)
    (dead,) = dead_letters.list("recorder")
    assert (dead.request_id, dead.attempts, dead.consumer) == (4, 2, None)
    assert "visibility timeout" in dead.last_error
    assert dead.message()[1] == JOB

    assert dead_letters.requeue([dead]) == 1
    server.handle_next_request()

    assert client.receive_response_message(5).request_id == 4
    assert dead_letters.list() == []


def _receive_in_child(transport: SqlServerTransport, results: Any) -> None:
    transport.receive_request_message()
    results.put(transport.worker_id)


def test_server_built_before_a_fork_takes_leases_under_its_own_name(
    database: SqlDatabase,
) -> None:
    SqlClientTransport("recorder", **database.kwargs()).send_request_message(1, {}, JOB)
    transport = SqlServerTransport("recorder", **database.kwargs())
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    child = context.Process(target=_receive_in_child, args=(transport, results))
    child.start()
    child.join(timeout=30)

    worker_id = results.get(timeout=5)
    assert f":{child.pid}:" in worker_id
    (taken_by,) = database.execute(select(database.tables.requests.c.taken_by))[0]
    assert taken_by == worker_id


def test_lease_is_renewed_while_a_long_job_runs(database: SqlDatabase) -> None:
    SqlClientTransport("recorder", **database.kwargs()).send_request_message(1, {}, JOB)
    server = SqlServerTransport("recorder", visibility_timeout_in_seconds=0.6, **database.kwargs())
    table = database.tables.requests
    _request_id, meta, _body = server.receive_request_message()
    (first_lease,) = database.execute(select(table.c.visible_at))[0]

    wait_until(
        lambda: database.execute(select(table.c.visible_at))[0][0] > first_lease + 0.3,
        "the lease to be renewed",
    )

    assert meta is not None
    server.complete_request_message(1, meta)
    assert database.execute(select(table)) == []
    server.close()


def test_database_error_raises_message_receive_error(database: SqlDatabase) -> None:
    SqlClientTransport("recorder", **database.kwargs()).send_request_message(1, {}, JOB)
    database.execute(text(f"DROP TABLE {database.tables.requests.name}"))
    server = SqlServerTransport("recorder", receive_timeout_in_seconds=0.2, **database.kwargs())

    with pytest.raises(MessageReceiveError, match="recorder"):
        server.receive_request_message()


def test_database_error_raises_message_send_error(database: SqlDatabase) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(1, {}, JOB)
    database.execute(text(f"DROP TABLE {database.tables.requests.name}"))

    with pytest.raises(MessageSendError, match="request 2 to service 'recorder'"):
        client.send_request_message(2, {}, JOB)


def test_idle_receive_times_out(database: SqlDatabase) -> None:
    server = SqlServerTransport("recorder", receive_timeout_in_seconds=0.1, **database.kwargs())

    with pytest.raises(MessageReceiveTimeout, match="recorder"):
        server.receive_request_message()


def test_purge_drops_expired_requests_and_replies(
    database: SqlDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    server = database.server(message_expiry_in_seconds=0.05)
    client = SqlClientTransport("recorder", **database.kwargs())
    client.send_request_message(1, {}, JOB)
    server.handle_next_request()  # a reply nobody collects
    client.send_request_message(2, {}, JOB, message_expiry_in_seconds=0.05)
    _wait_until_expired(database, database.tables.requests)
    _wait_until_expired(database, database.tables.replies)
    transport = server.transport
    assert isinstance(transport, SqlServerTransport)

    with caplog.at_level(logging.INFO, "servicewire.transport.sql"):
        transport.purge()

    assert database.execute(select(database.tables.requests)) == []
    assert database.execute(select(database.tables.replies)) == []
    assert "Dropped 1 expired request(s) to service 'recorder'" in caplog.text


# --- several worker threads ---------------------------------------------------------------------


def test_concurrent_workers_hold_a_lease_on_each_request_and_prefetch_nothing(
    database: SqlDatabase,
) -> None:
    client = SqlClientTransport("recorder", **database.kwargs())
    for request_id in (1, 2, 3, 4):
        client.send_request_message(request_id, {}, JOB)
    server = SqlServerTransport("recorder", visibility_timeout_in_seconds=0.6, **database.kwargs())
    server.enable_concurrent_requests(3)
    table = database.tables.requests
    taken = [server.receive_request_message() for _ in range(3)]
    first_leases = dict(database.execute(select(table.c.request_id, table.c.visible_at)))

    wait_until(
        lambda: all(
            visible_at > first_leases[request_id] + 0.3
            for request_id, visible_at, attempts in database.execute(
                select(table.c.request_id, table.c.visible_at, table.c.attempts)
            )
            if attempts
        ),
        "every lease to be renewed",
    )

    def finish(request_id: int, meta: dict[str, Any]) -> None:
        server.send_response_message(request_id, meta, {"actions": [], "errors": []})
        server.complete_request_message(request_id, meta)

    workers = [
        threading.Thread(target=finish, args=(request_id, meta))
        for request_id, meta, _body in taken
        if request_id is not None and meta is not None
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert database.execute(select(table.c.request_id, table.c.attempts)) == [(4, 0)]
    assert len(database.execute(select(database.tables.replies))) == 3
    server.close()


def test_a_server_with_workers_answers_every_request_once(database: SqlDatabase) -> None:
    from tests.server.concurrency_services import ConcurrencyServer

    server = ConcurrencyServer(
        {
            "transport": database.server_transport(receive_timeout_in_seconds=0.2),
            "workers": 4,
        }
    )
    serving = threading.Thread(target=server.run)
    serving.start()
    client = Client({"concurrency": {"transport": database.client_transport()}})
    try:
        responses = client.call_jobs_parallel(
            [
                {"service_name": "concurrency", "actions": [{"action": "echo", "body": {"n": n}}]}
                for n in range(12)
            ],
            timeout=30,
        )
    finally:
        server.shutting_down = True
        serving.join(timeout=30)

    assert [response.actions[0].body for response in responses] == [{"n": n} for n in range(12)]
    assert database.execute(select(database.tables.requests)) == []


def test_a_fan_out_consumer_refuses_workers(database: SqlDatabase) -> None:
    server = SqlServerTransport(
        "recorder", delivery="fan_out", consumer="audit", **database.kwargs()
    )
    with pytest.raises(ImproperlyConfigured, match="one at a time, in order: it cannot use 4"):
        server.enable_concurrent_requests(4)
