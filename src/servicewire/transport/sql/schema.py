"""The transport's tables, their schema version, and the upgrade path between versions.

Tables (all names start with the ``table_prefix`` setting, ``servicewire_`` by default):

``requests``
    The work queue: one row per request waiting or being handled. ``visible_at`` is when
    the row may next be taken (a taken row's lease ends then); ``attempts`` counts
    deliveries. A completed request's row is deleted.
``replies``
    Responses waiting for their caller, keyed by the caller's ``reply_to`` identity.
``fanout_messages`` and ``fanout_cursors``
    Fan-out delivery: an append-only log of messages per service, and per named consumer
    the id of the last message it finished, with the lease and attempts of the next one.
    ``target_consumer`` is set on a message re-queued from one consumer's dead letters.
``dead_letters``
    Messages given up on, with their last error, per service (and per consumer for
    fan-out), until re-queued, discarded or purged.
``schema_version``
    One row: the version of these tables.

The tables are created on first use. A database created by an older servicewire is
upgraded in place, one step per version, under a lock so that servers starting together
upgrade it once; a database newer than this servicewire is refused with
:class:`DatabaseSchemaError` rather than misread.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError

from servicewire.errors import TransportError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DatabaseSchemaError",
    "Tables",
    "TakenMessage",
    "build_tables",
    "ensure_schema",
]

SCHEMA_VERSION = 1
"""The version of the tables this servicewire reads and writes."""

MIGRATIONS: dict[int, Callable[[Connection, Tables], None]] = {}
"""``MIGRATIONS[n]`` upgrades the tables from version ``n`` to ``n + 1``, in a transaction."""

_logger = logging.getLogger("servicewire.transport.sql")

# SQLite needs INTEGER PRIMARY KEY (the rowid) for autoincrement; elsewhere, 64 bits.
_RowId = BigInteger().with_variant(Integer(), "sqlite")
_NAME_LENGTH = 255


class DatabaseSchemaError(TransportError):
    """The transport's tables in the database cannot be used by this servicewire."""


@dataclass(frozen=True)
class Tables:
    """The transport's tables under one prefix."""

    prefix: str
    metadata: MetaData
    schema_version: Table
    requests: Table
    replies: Table
    fanout_messages: Table
    fanout_cursors: Table
    dead_letters: Table


class TakenMessage(NamedTuple):
    """A request or fan-out message as a server takes it from its table."""

    row_id: int
    request_id: int
    reply_to: str | None
    payload: bytes
    attempts: int
    enqueued_at: float
    expired: bool


def _id() -> Column[int]:
    return Column("id", _RowId, primary_key=True, autoincrement=True)


def _name(name: str, nullable: bool = False) -> Column[str]:
    return Column(name, String(_NAME_LENGTH), nullable=nullable)


def build_tables(prefix: str) -> Tables:
    """The table definitions (current version) under ``prefix``."""
    metadata = MetaData()
    p = prefix
    schema_version = Table(
        f"{p}schema_version",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
        Column("upgraded_at", Double, nullable=False),
    )
    requests = Table(
        f"{p}requests",
        metadata,
        _id(),
        _name("service"),
        Column("request_id", BigInteger, nullable=False),
        _name("reply_to", nullable=True),
        Column("payload", LargeBinary, nullable=False),
        Column("enqueued_at", Double, nullable=False),
        Column("expires_at", Double, nullable=False),
        Column("visible_at", Double, nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        _name("taken_by", nullable=True),
        Index(f"{p}requests_by_service", "service", "id"),
    )
    replies = Table(
        f"{p}replies",
        metadata,
        _id(),
        _name("reply_to"),
        Column("request_id", BigInteger, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("expires_at", Double, nullable=False),
        Index(f"{p}replies_by_caller", "reply_to", "id"),
        Index(f"{p}replies_by_expiry", "expires_at"),
    )
    fanout_messages = Table(
        f"{p}fanout_messages",
        metadata,
        _id(),
        _name("service"),
        _name("target_consumer", nullable=True),
        Column("request_id", BigInteger, nullable=False),
        _name("reply_to", nullable=True),
        Column("payload", LargeBinary, nullable=False),
        Column("enqueued_at", Double, nullable=False),
        Column("expires_at", Double, nullable=False),
        Index(f"{p}fanout_messages_by_service", "service", "id"),
    )
    fanout_cursors = Table(
        f"{p}fanout_cursors",
        metadata,
        Column("service", String(_NAME_LENGTH), primary_key=True),
        Column("consumer", String(_NAME_LENGTH), primary_key=True),
        Column("position", BigInteger, nullable=False),
        Column("current_id", BigInteger, nullable=True),
        Column("attempts", Integer, nullable=False),
        Column("lease_until", Double, nullable=False),
        _name("leased_by", nullable=True),
        Column("last_error", Text, nullable=True),
    )
    dead_letters = Table(
        f"{p}dead_letters",
        metadata,
        _id(),
        _name("service"),
        _name("consumer", nullable=True),
        Column("message_id", BigInteger, nullable=False),
        Column("request_id", BigInteger, nullable=False),
        _name("reply_to", nullable=True),
        Column("payload", LargeBinary, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("last_error", Text, nullable=False),
        Column("enqueued_at", Double, nullable=False),
        Column("dead_at", Double, nullable=False),
        Index(f"{p}dead_letters_by_service", "service", "id"),
    )
    return Tables(
        prefix,
        metadata,
        schema_version,
        requests,
        replies,
        fanout_messages,
        fanout_cursors,
        dead_letters,
    )


def _read_version(connection: Connection, tables: Tables) -> int | None:
    """The stored version, or ``None`` when the tables do not exist yet."""
    try:
        version: int | None = connection.execute(select(tables.schema_version.c.version)).scalar()
    except DBAPIError:
        connection.rollback()
        return None
    return version


def _lock_for_upgrade(connection: Connection, tables: Tables) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("BEGIN")
        key = zlib.crc32(f"servicewire:{tables.prefix}".encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        # SQLite: take the write lock now, so that no other process upgrades meanwhile.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _refuse_newer(version: int, tables: Tables, url: str) -> None:
    if version > SCHEMA_VERSION:
        raise DatabaseSchemaError(
            f"The servicewire tables with prefix {tables.prefix!r} in {url} have schema "
            f"version {version}, newer than version {SCHEMA_VERSION} that this servicewire "
            "understands: upgrade servicewire here, or point it at another database or "
            "table_prefix"
        )


def ensure_schema(connection: Connection, tables: Tables, url: str) -> None:
    """Create the tables, or upgrade them to :data:`SCHEMA_VERSION`, as needed.

    ``connection`` must be in autocommit mode (the engines of this package are). Raises
    :class:`DatabaseSchemaError` for tables newer than this servicewire.
    """
    version = _read_version(connection, tables)
    if version == SCHEMA_VERSION:
        return
    if version is not None:
        _refuse_newer(version, tables, url)
    _lock_for_upgrade(connection, tables)
    try:
        version = _read_version_locked(connection, tables)
        now = time.time()
        if version is None:
            tables.metadata.create_all(connection)
            connection.execute(
                insert(tables.schema_version).values(id=1, version=SCHEMA_VERSION, upgraded_at=now)
            )
            _logger.info("Created the servicewire tables with prefix %r in %s", tables.prefix, url)
        else:
            _refuse_newer(version, tables, url)
            start = version
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](connection, tables)
                version += 1
            connection.execute(
                update(tables.schema_version).values(version=version, upgraded_at=now)
            )
            if version != start:
                _logger.warning(
                    "Upgraded the servicewire tables with prefix %r in %s from version %d to %d",
                    tables.prefix,
                    url,
                    start,
                    version,
                )
        connection.exec_driver_sql("COMMIT")
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise


def _read_version_locked(connection: Connection, tables: Tables) -> int | None:
    # Inside the upgrade transaction a missing table must not abort it: ask the catalogue.
    if not connection.dialect.has_table(connection, tables.schema_version.name):
        return None
    version: int | None = connection.execute(select(tables.schema_version.c.version)).scalar()
    return version
