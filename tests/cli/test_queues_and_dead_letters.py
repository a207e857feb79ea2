"""``servicewire queues`` and ``servicewire dead-letters``, on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servicewire.cli.errors import ExitStatus
from servicewire.transport.redis import RedisClientTransport
from servicewire.transport.sql import DeadLetters, SqlClientTransport, SqlServerTransport
from servicewire.transport.sql.database import close_databases, open_database
from servicewire.transport.sql.dead_letters import bury
from servicewire.transport.sql.envelope import encode_payload
from servicewire.transport.sql.schema import TakenMessage

JOB: dict[str, Any] = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c1", "switches": []},
    "actions": [{"action": "greet", "body": {"name": "Ada"}}],
}
_prefixes = itertools.count(1)


@dataclass
class Database:
    url: str
    table_prefix: str
    settings_file: Path

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"url": self.url, "table_prefix": self.table_prefix}

    def options(self) -> list[str]:
        return ["--settings-file", str(self.settings_file)]

    def bury(self, service: str, request_id: int, consumer: str | None = None) -> None:
        opened = open_database(self.url, self.table_prefix)
        payload = encode_payload(
            {"reply_to": None}, JOB, maximum_size=10_000, log_larger_than=0, description="test"
        )
        message = TakenMessage(request_id, request_id, None, payload, 3, 1_700_000_000.0, False)
        opened.run(
            lambda c: bury(c, opened, service, consumer, message, f"boom {request_id}\nline 2")
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    prefix = f"cli{os.getpid()}_{next(_prefixes)}_"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/queues.db"
    else:
        url = request.getfixturevalue("postgres_url")
    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(
            {
                "transport": {
                    "path": "servicewire.transport.sql:SqlClientTransport",
                    "kwargs": {"url": url, "table_prefix": prefix},
                }
            }
        )
    )
    yield Database(url, prefix, settings)
    close_databases()


def send(database: Database, service: str, request_id: int) -> None:
    transport = SqlClientTransport(service, **database.kwargs)
    try:
        transport.send_request_message(request_id, {}, JOB)
    finally:
        transport.close()


def test_queues_reports_waiting_in_flight_and_dead_letters(run: Any, database: Database) -> None:
    for request_id in (1, 2, 3):
        send(database, "greeter", request_id)
    send(database, "mailer", 4)
    server = SqlServerTransport("greeter", **database.kwargs, receive_timeout_in_seconds=1)
    try:
        server.receive_request_message()  # taken, not finished: in flight
        database.bury("mailer", 5)
        outcome = run("queues", "--json", *database.options())
    finally:
        server.close()
    assert outcome.status == 0, outcome.err
    [report] = json.loads(outcome.out)
    assert report["transport"].startswith("SQL transport at ")
    queues = {queue["service"]: queue for queue in report["queues"]}
    assert (queues["greeter"]["waiting"], queues["greeter"]["in_flight"]) == (2, 1)
    assert queues["greeter"]["dead_letters"] == 0
    assert queues["greeter"]["oldest_age_in_seconds"] >= 0
    assert (queues["mailer"]["waiting"], queues["mailer"]["dead_letters"]) == (1, 1)


def test_queues_as_a_table(run: Any, database: Database) -> None:
    send(database, "greeter", 1)
    outcome = run("queues", *database.options())
    header, row = outcome.out.splitlines()[1:]
    assert header.split() == ["service", "waiting", "oldest", "in", "flight", "dead", "letters"]
    assert row.split()[:2] == ["greeter", "1"]
    assert run("queues", "mailer", *database.options()).out.splitlines()[1] == (
        "(no queued requests)"
    )


def test_queues_on_redis_report_each_request_queues_depth(run: Any, redis_url: str) -> None:
    transport = RedisClientTransport(
        "idle", backend_layer_kwargs={"hosts": [redis_url]}, receive_timeout_in_seconds=0.1
    )
    try:
        transport.send_request_message(1, {}, JOB)
        transport.send_request_message(2, {}, JOB)
    finally:
        transport.close()
    outcome = run("queues", "--json", "--transport", redis_url)
    assert outcome.status == 0, outcome.err
    [report] = json.loads(outcome.out)
    assert report["queues"] == [
        {
            "service": "idle",
            "waiting": 2,
            "oldest_age_in_seconds": None,
            "in_flight": None,
            "dead_letters": None,
            "consumers": None,
        }
    ]


def test_queues_of_an_unreachable_redis(run: Any) -> None:
    outcome = run("queues", "--transport", "redis://127.0.0.1:1/0")
    assert outcome.status == ExitStatus.UNREACHABLE
    assert outcome.err.startswith("servicewire queues: error: cannot reach the queues through")


# --- dead letters ----------------------------------------------------------------------------


@pytest.fixture
def buried(database: Database) -> DeadLetters:
    database.bury("billing", 1)
    database.bury("billing", 2, consumer="audit")
    database.bury("mailer", 3)
    return DeadLetters(database.url, database.table_prefix)


def test_dead_letters_list(run: Any, database: Database, buried: DeadLetters) -> None:
    outcome = run("dead-letters", "list", "--service", "billing", *database.options())
    assert outcome.status == 0, outcome.err
    assert "boom 1" in outcome.out
    assert "audit" in outcome.out
    assert "line 2" not in outcome.out
    assert "mailer" not in outcome.out
    listed = json.loads(run("dead-letters", "list", "--json", *database.options()).out)
    assert [letter["service"] for letter in listed] == ["billing", "billing", "mailer"]


def test_dead_letters_show_one_in_full(run: Any, database: Database, buried: DeadLetters) -> None:
    letter = buried.list("mailer")[0]
    outcome = run("dead-letters", "show", str(letter.id), *database.options())
    assert outcome.status == 0, outcome.err
    assert "boom 3\nline 2" in outcome.out
    assert "'correlation_id': 'c1'" in outcome.out
    shown = json.loads(
        run("dead-letters", "show", str(letter.id), "--json", *database.options()).out
    )
    assert shown["message"]["body"]["actions"][0]["action"] == "greet"


def test_dead_letters_show_an_unknown_id(run: Any, database: Database, buried: DeadLetters) -> None:
    outcome = run("dead-letters", "show", "999", *database.options())
    assert outcome.status == ExitStatus.UNKNOWN_SERVICE
    assert outcome.err == "servicewire dead-letters show: error: no dead letter '999'\n"


def test_dead_letters_retry_and_purge(run: Any, database: Database, buried: DeadLetters) -> None:
    billing = buried.list("billing")
    outcome = run("dead-letters", "retry", "--all", "--service", "mailer", *database.options())
    assert outcome.out == "Re-queued 1 dead letter(s).\n"
    outcome = run(
        "dead-letters", "purge", *(str(letter.id) for letter in billing), *database.options()
    )
    assert outcome.out == "Discarded 2 dead letter(s).\n"
    assert buried.list() == []
    server = SqlServerTransport("mailer", **database.kwargs, receive_timeout_in_seconds=1)
    try:
        assert server.receive_request_message().request_id == 3
    finally:
        server.close()


def test_purge_all_older_than(run: Any, database: Database, buried: DeadLetters) -> None:
    outcome = run("dead-letters", "purge", "--all", "--older-than", "3600", *database.options())
    assert outcome.out == "Discarded 0 dead letter(s).\n"
    outcome = run("dead-letters", "purge", "--all", *database.options())
    assert outcome.out == "Discarded 3 dead letter(s).\n"


def test_dead_letters_want_ids_or_all(run: Any, database: Database) -> None:
    outcome = run("dead-letters", "retry", *database.options())
    assert outcome.status == ExitStatus.USAGE
    assert (
        outcome.err
        == "servicewire dead-letters retry: error: retry: give dead letter ids, or --all\n"
    )


def test_a_transport_without_dead_letters_is_named(run: Any, redis_url: str) -> None:
    outcome = run("dead-letters", "list", "--transport", redis_url)
    assert outcome.status == ExitStatus.INVALID_SETTINGS
    assert "servicewire.transport.redis:RedisClientTransport keeps no dead letters" in outcome.err


def test_dead_letters_run_as_a_shell_command(database: Database, tmp_path: Path) -> None:
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-m", "servicewire", "dead-letters", "list", *database.options()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (0, "No dead letters.\n")
