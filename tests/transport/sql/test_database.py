"""Opening databases: URLs, SQLite's file and journal, reconnection, forked children."""

from __future__ import annotations

import multiprocessing
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from servicewire import InvalidSettings
from servicewire.transport.sql.database import open_database
from servicewire.transport.sql.wakeup import new_listener
from tests.transport.sql.conftest import SqlDatabase


def test_plain_postgresql_url_uses_psycopg_3() -> None:
    database = open_database("postgresql://user@db.example/queues", "servicewire_")

    assert database.engine.url.drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused_because_no_other_process_sees_it(url: str) -> None:
    with pytest.raises(InvalidSettings, match="in-memory"):
        open_database(url, "servicewire_")


def test_other_databases_are_refused_by_name() -> None:
    with pytest.raises(InvalidSettings, match="only SQLite and PostgreSQL"):
        open_database("mysql://db.example/queues", "servicewire_")


def test_unparseable_url_is_refused_by_name() -> None:
    with pytest.raises(InvalidSettings, match="not a url"):
        open_database("not a url", "servicewire_")


def test_sqlite_file_is_created_in_a_private_directory_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / "servicewire" / "queues.db"
    database = open_database(f"sqlite:///{path}", "servicewire_")

    mode = database.run(lambda c: c.exec_driver_sql("PRAGMA journal_mode").scalar())

    assert mode == "wal"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_operation_survives_the_loss_of_its_connection(postgres_url: str) -> None:
    database = open_database(postgres_url, "reconnect_")
    pid = database.run(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar())
    database.run(
        lambda c: c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}),
        durable=False,
    )

    new_pid = database.run(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar())

    assert new_pid != pid


def test_connections_of_finished_threads_return_to_the_pool(database: SqlDatabase) -> None:
    opened = open_database(
        database.url, database.table_prefix, engine_kwargs={"pool_size": 1, "max_overflow": 0}
    )
    answers: list[int] = []

    def query() -> None:
        answers.append(opened.run(lambda c: c.execute(text("SELECT 1")).scalar()))

    for _ in range(3):  # with one connection in the pool, the second thread needs the first's
        thread = threading.Thread(target=query)
        thread.start()
        thread.join(timeout=60)

    assert answers == [1, 1, 1]


def _use_in_child(url: str, prefix: str, results: multiprocessing.Queue[object]) -> None:
    database = open_database(url, prefix)
    results.put(database.run(lambda c: c.execute(text("SELECT 41 + 1")).scalar()))


def test_forked_child_uses_connections_of_its_own(database: SqlDatabase) -> None:
    opened = open_database(database.url, database.table_prefix)
    opened.run(lambda c: c.execute(text("SELECT 1")).scalar())
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[object] = context.Queue()

    child = context.Process(
        target=_use_in_child, args=(database.url, database.table_prefix, results)
    )
    child.start()
    child.join(timeout=30)

    assert child.exitcode == 0
    assert results.get(timeout=5) == 42
    assert opened.run(lambda c: c.execute(text("SELECT 2")).scalar()) == 2


def test_listening_connection_gets_the_engines_connect_args(postgres_url: str) -> None:
    database = open_database(
        postgres_url,
        "listen_",
        engine_kwargs={"connect_args": {"application_name": "servicewire-listener-test"}},
    )
    listener = new_listener(database, ["listen_test"], "the test channel")
    assert listener is not None

    listener.token()

    connection = listener._connection
    assert connection.info.parameter_status("application_name") == "servicewire-listener-test"
    listener.close()
