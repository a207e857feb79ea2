"""Hot-path statements run on the driver, with SQLAlchemy's errors and reconnection."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from servicewire.transport.sql.database import open_database
from servicewire.transport.sql.prepared import Prepared
from tests.transport.sql.conftest import SqlDatabase


def test_statement_runs_with_its_own_and_the_given_parameters(database: SqlDatabase) -> None:
    opened = open_database(database.url, database.table_prefix)
    table = opened.tables.schema_version
    dialect = opened.engine.dialect
    write = Prepared(insert(table).values(id=bindparam("key"), version=3, upgraded_at=0.0), dialect)
    read = Prepared(select(table.c.version).where(table.c.id == bindparam("key")).limit(1), dialect)

    assert opened.run(lambda c: write.rowcount(c, {"key": 2})) == 1
    assert opened.run(lambda c: read.first(c, {"key": 2})) == (3,)
    assert opened.run(lambda c: read.all(c, {"key": 99})) == []


def test_driver_error_becomes_sqlalchemys_with_the_statement(database: SqlDatabase) -> None:
    opened = open_database(database.url, database.table_prefix)
    table = opened.tables.schema_version
    duplicate = Prepared(
        insert(table).values(id=1, version=1, upgraded_at=0.0), opened.engine.dialect
    )
    opened.run(lambda c: c.execute(select(table)).all())  # the tables (and row 1) exist

    with pytest.raises(IntegrityError) as raised:
        opened.run(lambda c: duplicate.rowcount(c, {}))

    assert "INSERT INTO" in str(raised.value)
    assert not raised.value.connection_invalidated


def test_lost_connection_is_invalidated_and_the_operation_retried(postgres_url: str) -> None:
    opened = open_database(postgres_url, "prepared_")
    backend_pid = Prepared(select(text("pg_backend_pid()")), opened.engine.dialect)
    first = opened.run(lambda c: backend_pid.first(c, {})[0])
    opened.run(
        lambda c: c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}),
        durable=False,
    )
    seen: list[DBAPIError] = []

    def query(connection: object) -> int:
        try:
            return int(backend_pid.first(connection, {})[0])  # type: ignore[arg-type]
        except DBAPIError as error:
            seen.append(error)
            raise

    second = opened.run(query)

    assert second != first
    assert seen[0].connection_invalidated
