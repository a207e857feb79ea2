"""Fixtures of the SQL transport tests: a database of each kind, and server processes."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servicewire import Client
from servicewire.transport.sql import SqlClientTransport, SqlServerTransport
from servicewire.transport.sql.database import close_databases, open_database
from servicewire.transport.sql.schema import Tables
from tests.support.metrics import RECORDING_METRICS
from tests.transport.sql.processes import ServerProcesses
from tests.transport.sql.services import RecordingServer

_prefixes = itertools.count(1)


@dataclass
class SqlDatabase:
    """Where a test's transports meet: a URL and a table prefix of its own."""

    kind: str
    url: str
    table_prefix: str

    def kwargs(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, "table_prefix": self.table_prefix, **extra}

    def client_transport(self, **extra: Any) -> dict[str, Any]:
        return {
            "path": "servicewire.transport.sql:SqlClientTransport",
            "kwargs": self.kwargs(**extra),
        }

    def server_transport(self, **extra: Any) -> dict[str, Any]:
        return {
            "path": "servicewire.transport.sql:SqlServerTransport",
            "kwargs": self.kwargs(**extra),
        }

    def server(self, **transport: Any) -> RecordingServer:
        """The recording service on this database, counting its metrics, answering fast
        when idle."""
        transport.setdefault("receive_timeout_in_seconds", 0.2)
        return RecordingServer(
            {
                "transport": self.server_transport(**transport),
                "metrics": RECORDING_METRICS,
            }
        )

    def client(self, **transport: Any) -> Client:
        return Client({"recorder": {"transport": self.client_transport(**transport)}})

    def execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> Any:
        """Run one statement on this database (rows, for a query)."""
        database = open_database(self.url, self.table_prefix)

        def run(connection: Any) -> Any:
            result = connection.execute(statement, parameters or {})
            return result.all() if result.returns_rows else result.rowcount

        return database.run(run)

    @property
    def tables(self) -> Tables:
        return open_database(self.url, self.table_prefix).tables


@pytest.fixture(autouse=True)
def _no_default_database_outside_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A transport built without a url must never touch the user's own default database.
    monkeypatch.setenv("SERVICEWIRE_SQL_URL", f"sqlite:///{tmp_path}/default-queues.db")


@pytest.fixture(autouse=True)
def _close_what_the_test_opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every transport a test built, and every database it opened: PostgreSQL has
    only so many connections for the whole machine."""
    opened: list[SqlClientTransport | SqlServerTransport] = []
    for transport_class in (SqlClientTransport, SqlServerTransport):
        original = transport_class.__init__

        def recording_init(
            self: Any, *args: Any, __original: Any = original, **kwargs: Any
        ) -> None:
            __original(self, *args, **kwargs)
            opened.append(self)

        monkeypatch.setattr(transport_class, "__init__", recording_init)
    yield
    for transport in opened:
        transport.close()
    close_databases()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> SqlDatabase:
    """A SQLite file of the test's own, or the session's PostgreSQL database with tables
    of the test's own (a fresh prefix)."""
    prefix = f"t{os.getpid()}_{next(_prefixes)}_"
    if request.param == "sqlite":
        return SqlDatabase("sqlite", f"sqlite:///{tmp_path}/queues.db", prefix)
    url: str = request.getfixturevalue("postgres_url")
    return SqlDatabase("postgresql", url, prefix)


@pytest.fixture
def sqlite_database(tmp_path: Path) -> SqlDatabase:
    return SqlDatabase("sqlite", f"sqlite:///{tmp_path}/queues.db", "servicewire_")


@pytest.fixture
def server_processes(tmp_path: Path) -> Iterator[ServerProcesses]:
    """Starts servers in child processes; stops (or kills) them at the end of the test."""
    processes = ServerProcesses(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()
