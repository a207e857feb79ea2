"""Tables created on first use, versioned, upgraded in place, refused when newer."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, inspect, select, update

from servicewire.transport.sql import (
    DatabaseSchemaError,
    SqlClientTransport,
    SqlServerTransport,
    schema,
)
from servicewire.transport.sql.database import open_database
from tests.transport.sql.conftest import SqlDatabase


def _version(database: SqlDatabase) -> int | None:
    opened = open_database(database.url, database.table_prefix)
    table = opened.tables.schema_version
    return opened.run(lambda connection: connection.execute(select(table.c.version)).scalar())


def test_first_use_creates_the_tables_and_records_the_version(database: SqlDatabase) -> None:
    client = SqlClientTransport("svc", **database.kwargs())
    client.send_request_message(1, {}, {"control": {}, "context": {}, "actions": []})

    opened = open_database(database.url, database.table_prefix)
    names = opened.run(lambda connection: set(inspect(connection).get_table_names()))
    assert {table.name for table in opened.tables.metadata.sorted_tables} <= names
    assert _version(database) == schema.SCHEMA_VERSION


def _add_priority(connection: Connection, tables: schema.Tables) -> None:
    connection.exec_driver_sql(f"ALTER TABLE {tables.requests.name} ADD COLUMN priority INTEGER")


def test_older_schema_is_upgraded_in_place_keeping_queued_requests(
    database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tables of the current version, holding a queued request...
    client = SqlClientTransport("svc", **database.kwargs())
    client.send_request_message(7, {}, {"control": {}, "context": {}, "actions": []})
    # ...meet a servicewire one version newer, with one migration step.
    current = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current, _add_priority)
    server = SqlServerTransport("svc", **database.kwargs())
    # A process opens a database once; a new process (a new cache) sees the new version.
    monkeypatch.setattr("servicewire.transport.sql.database._databases", {})

    request_id, _meta, _body = server.receive_request_message()

    assert request_id == 7
    assert _version(database) == current + 1
    opened = open_database(database.url, database.table_prefix)
    columns = opened.run(
        lambda connection: {
            c["name"] for c in inspect(connection).get_columns(opened.tables.requests.name)
        }
    )
    assert "priority" in columns


def test_newer_schema_is_refused_with_a_clear_error(
    database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqlClientTransport("svc", **database.kwargs()).send_request_message(
        1, {}, {"control": {}, "context": {}, "actions": []}
    )
    opened = open_database(database.url, database.table_prefix)
    table = opened.tables.schema_version
    opened.run(lambda connection: connection.execute(update(table).values(version=99)))
    monkeypatch.setattr("servicewire.transport.sql.database._databases", {})

    server = SqlServerTransport("svc", **database.kwargs())
    with pytest.raises(DatabaseSchemaError) as raised:
        server.receive_request_message()

    message = str(raised.value)
    assert "version 99" in message
    assert f"version {schema.SCHEMA_VERSION}" in message
    assert repr(database.table_prefix) in message
