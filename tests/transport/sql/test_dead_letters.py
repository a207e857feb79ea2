"""Dead letters: listing, re-queueing, discarding and purging them (the shell command,
``servicewire dead-letters``, is tested in tests/cli)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from servicewire.transport.sql import DeadLetters, SqlServerTransport
from servicewire.transport.sql.database import open_database
from servicewire.transport.sql.dead_letters import bury
from servicewire.transport.sql.envelope import encode_payload
from servicewire.transport.sql.schema import TakenMessage
from tests.support.processes import wait_until
from tests.transport.sql.conftest import SqlDatabase

JOB: dict[str, Any] = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c1", "switches": []},
    "actions": [{"action": "echo", "body": {}}],
}


def _bury(database: SqlDatabase, service: str, consumer: str | None, request_id: int) -> None:
    opened = open_database(database.url, database.table_prefix)
    payload = encode_payload(
        {"reply_to": None}, JOB, maximum_size=10_000, log_larger_than=0, description="test"
    )
    message = TakenMessage(request_id, request_id, None, payload, 3, 1_700_000_000.0, False)
    opened.run(lambda c: bury(c, opened, service, consumer, message, f"boom {request_id}\nline 2"))


@pytest.fixture
def dead_letters(database: SqlDatabase) -> DeadLetters:
    _bury(database, "billing", None, 1)
    _bury(database, "billing", "audit", 2)
    _bury(database, "mailer", None, 3)
    return DeadLetters(database.url, database.table_prefix)


def test_list_filters_by_service_and_consumer(dead_letters: DeadLetters) -> None:
    assert [letter.request_id for letter in dead_letters.list()] == [1, 2, 3]
    assert [letter.request_id for letter in dead_letters.list("billing")] == [1, 2]
    assert [letter.request_id for letter in dead_letters.list(consumer="audit")] == [2]
    assert [letter.request_id for letter in dead_letters.list(limit=1)] == [1]


def test_dead_letter_keeps_its_message_and_last_error(dead_letters: DeadLetters) -> None:
    letter = dead_letters.list("mailer")[0]

    assert dead_letters.get(letter.id) == letter
    assert letter.message() == ({"reply_to": None}, JOB)
    assert letter.last_error == "boom 3\nline 2"
    assert letter.attempts == 3


def test_requeued_work_queue_request_is_received_again_fresh(
    dead_letters: DeadLetters, database: SqlDatabase
) -> None:
    (letter,) = dead_letters.list("mailer")

    assert dead_letters.requeue([letter.id]) == 1

    server = SqlServerTransport("mailer", receive_timeout_in_seconds=5, **database.kwargs())
    request_id, _meta, body = server.receive_request_message()
    assert (request_id, body) == (3, JOB)
    (attempts,) = database.execute(select(database.tables.requests.c.attempts))[0]
    assert attempts == 1
    assert dead_letters.get(letter.id) is None


def test_discard_deletes_for_good(dead_letters: DeadLetters) -> None:
    assert dead_letters.discard(dead_letters.list("billing")) == 2
    assert [letter.service for letter in dead_letters.list()] == ["mailer"]


def test_purge_deletes_the_old_ones(dead_letters: DeadLetters) -> None:
    purged: list[int] = []

    def all_purged() -> bool:
        # A letter buried in the same clock tick as the purge is not older yet: it goes with
        # a later purge, and the counts add up.
        purged.append(dead_letters.purge(older_than_in_seconds=0))
        return sum(purged) == 3

    wait_until(all_purged, "a purge")
    assert dead_letters.list() == []


def test_servers_purge_dead_letters_past_their_retention(database: SqlDatabase) -> None:
    _bury(database, "billing", None, 1)
    server = SqlServerTransport(
        "billing", dead_letter_retention_in_seconds=0.01, **database.kwargs()
    )
    dead_letters = DeadLetters(database.url, database.table_prefix)

    def purged() -> bool:
        server.purge()
        return dead_letters.list() == []

    wait_until(purged, "the dead letter to be purged")
