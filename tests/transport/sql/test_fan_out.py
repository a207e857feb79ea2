"""Fan-out delivery: every consumer sees every message, in order, and none is skipped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from servicewire import Client
from servicewire.errors import MessageReceiveTimeout
from servicewire.transport.sql import DeadLetters, SqlServerTransport
from servicewire.transport.sql.database import open_database
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.services import RecordingServer


class Scene:
    """A publisher, consumers of the recording service, and the log they write."""

    def __init__(self, database: SqlDatabase, tmp_path: Path) -> None:
        self.database = database
        self.log = tmp_path / "handled.log"
        self.trouble = tmp_path / "trouble"
        self.publisher: Client = database.client(delivery="fan_out")
        self.dead_letters = DeadLetters(database.url, database.table_prefix)

    def publish(self, action: str, n: int) -> None:
        body = {"log": str(self.log), "n": n, "trouble": str(self.trouble)}
        self.publisher.send_request(
            "recorder", [{"action": action, "body": body}], suppress_response=True
        )

    def consumer(self, name: str, **settings: Any) -> RecordingServer:
        settings.setdefault("fan_out_retry_delay_in_seconds", 0)
        return self.database.server(delivery="fan_out", consumer=name, **settings)

    def handled(self) -> list[str]:
        if not self.log.exists():
            return []
        return [line.split()[1] for line in self.log.read_text().splitlines()]


@pytest.fixture
def scene(database: SqlDatabase, tmp_path: Path) -> Scene:
    return Scene(database, tmp_path)


def drive(server: RecordingServer, times: int) -> None:
    for _ in range(times):
        server.handle_next_request()


def test_each_consumer_sees_every_message_in_order(scene: Scene) -> None:
    audit, mailer = scene.consumer("audit"), scene.consumer("mailer")
    for n in range(3):
        scene.publish("record", n)
    drive(audit, 3)
    for n in range(3, 5):
        scene.publish("record", n)

    drive(mailer, 5)
    drive(audit, 3)  # two messages left, then nothing

    assert scene.handled() == ["0", "1", "2", "0", "1", "2", "3", "4", "3", "4"]


def test_failing_message_is_retried_then_dead_lettered_never_skipped(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    scene.trouble.touch()
    audit = scene.consumer("audit", max_attempts=3)
    scene.publish("record", 0)
    scene.publish("fail", 1)
    scene.publish("record", 2)

    with caplog.at_level(logging.WARNING, "servicewire.transport.sql"):
        drive(audit, 4)  # the first message, then three attempts of the failing one

    assert scene.handled() == ["0", "1", "1", "1"]
    (dead,) = scene.dead_letters.list("recorder")
    assert (dead.consumer, dead.attempts) == ("audit", 3)
    assert "the database of this service is down" in dead.last_error
    assert "retrying" in caplog.text
    drive(audit, 1)
    assert scene.handled() == ["0", "1", "1", "1", "2"]


def _fails_for_audit_only(scene: Scene) -> tuple[RecordingServer, RecordingServer]:
    """Publish a message that fails (and dies) for the consumer audit, not for mailer."""
    scene.trouble.touch()
    audit, mailer = scene.consumer("audit", max_attempts=1), scene.consumer("mailer")
    scene.publish("fail", 1)
    drive(audit, 1)
    scene.trouble.unlink()
    return audit, mailer


def test_a_message_dead_for_one_consumer_is_delivered_to_the_others(scene: Scene) -> None:
    _audit, mailer = _fails_for_audit_only(scene)

    drive(mailer, 1)

    assert scene.handled() == ["1", "1"]
    assert [letter.consumer for letter in scene.dead_letters.list()] == ["audit"]


def test_requeued_dead_letter_goes_to_its_consumer_only(scene: Scene) -> None:
    audit, mailer = _fails_for_audit_only(scene)
    drive(mailer, 1)

    assert scene.dead_letters.requeue(scene.dead_letters.list()) == 1
    drive(mailer, 1)
    drive(audit, 1)

    # audit failed, mailer succeeded; after the re-queue, audit alone handles it again.
    assert scene.handled() == ["1", "1", "1"]
    assert scene.dead_letters.list() == []


def test_caller_error_is_dead_lettered_at_once(scene: Scene) -> None:
    audit = scene.consumer("audit", max_attempts=5)
    scene.publish("refuse", 1)
    scene.publish("record", 2)

    drive(audit, 2)

    (dead,) = scene.dead_letters.list()
    assert dead.attempts == 1
    assert "NOT_ALLOWED" in dead.last_error
    assert scene.handled() == ["2"]


def _transport(database: SqlDatabase, **settings: Any) -> SqlServerTransport:
    return SqlServerTransport(
        "recorder",
        delivery="fan_out",
        consumer="audit",
        receive_timeout_in_seconds=settings.pop("receive_timeout_in_seconds", 0.2),
        **database.kwargs(**settings),
    )


def _finish(transport: SqlServerTransport, request_id: int, meta: dict[str, Any]) -> None:
    transport.send_response_message(request_id, meta, {"errors": [], "actions": []})
    transport.complete_request_message(request_id, meta)


def test_processes_of_one_consumer_take_turns(scene: Scene, database: SqlDatabase) -> None:
    scene.publish("record", 1)
    scene.publish("record", 2)
    first, second = _transport(database), _transport(database)

    request_id, meta, body = first.receive_request_message()
    with pytest.raises(MessageReceiveTimeout):
        second.receive_request_message()
    assert meta is not None
    assert request_id is not None
    _finish(first, request_id, meta)
    _, _, next_body = second.receive_request_message()

    assert body is not None
    assert next_body is not None
    assert [body["actions"][0]["body"]["n"], next_body["actions"][0]["body"]["n"]] == [1, 2]


def test_message_of_a_consumer_that_died_is_taken_over_after_the_visibility_timeout(
    scene: Scene, database: SqlDatabase
) -> None:
    scene.publish("record", 1)
    dying = _transport(database, visibility_timeout_in_seconds=0.3)
    request_id, _, _ = dying.receive_request_message()
    dying.close()

    survivor = _transport(database, receive_timeout_in_seconds=10)
    again, _, _ = survivor.receive_request_message()

    assert again == request_id


def _log_size(database: SqlDatabase) -> int:
    table = database.tables.fanout_messages
    return int(database.execute(select(func.count()).select_from(table))[0][0])


def test_purge_keeps_what_a_consumer_has_not_passed(scene: Scene, database: SqlDatabase) -> None:
    audit, mailer = scene.consumer("audit"), scene.consumer("mailer")
    for n in range(3):
        scene.publish("record", n)
    drive(audit, 3)
    drive(mailer, 1)

    for server in (audit, mailer):
        assert isinstance(server.transport, SqlServerTransport)
    audit.transport.purge()  # type: ignore[union-attr]
    assert _log_size(database) == 2

    drive(mailer, 2)
    mailer.transport.purge()  # type: ignore[union-attr]
    assert _log_size(database) == 0


def test_new_consumer_sees_the_messages_still_in_the_log(scene: Scene) -> None:
    scene.publish("record", 1)
    scene.publish("record", 2)

    drive(scene.consumer("latecomer"), 2)

    assert scene.handled() == ["1", "2"]


def test_undecodable_message_is_dead_lettered_and_passed(
    scene: Scene, database: SqlDatabase
) -> None:
    audit = scene.consumer("audit")
    scene.publish("record", 1)
    now = open_database(database.url, database.table_prefix).now
    database.execute(
        insert(database.tables.fanout_messages).values(
            service="recorder",
            request_id=77,
            payload=b"\xc1",
            enqueued_at=now,
            expires_at=now + 60,
        )
    )
    scene.publish("record", 3)

    drive(audit, 3)

    assert scene.handled() == ["1", "3"]
    (dead,) = scene.dead_letters.list()
    assert (dead.request_id, dead.consumer) == (77, "audit")
    assert "Undecodable" in dead.last_error
