"""One database as the transports use it: a shared engine, the tables, dialect specifics.

Engines run in autocommit mode: most operations are a single statement, which then costs
one round trip and one commit. Operations of several statements open their transaction
explicitly (:meth:`Database.transaction`), with ``BEGIN IMMEDIATE`` on SQLite so that a
writer takes the lock up front and waits for it (the busy timeout) instead of failing to
upgrade a read lock.

SQLite files are opened in WAL mode (readers never block the writer) with
``synchronous=NORMAL`` (a commit survives a crash of any process; a power cut may lose the
last commits). Times are the database's clock (``now``), so that servers on several hosts
sharing a PostgreSQL database agree on leases and expiry whatever their own clocks say.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Double,
    Engine,
    Insert,
    Select,
    create_engine,
    event,
    func,
    make_url,
    select,
)
from sqlalchemy import literal_column as _literal_column
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError

from servicewire.errors import InvalidSettings
from servicewire.transport.sql.schema import Tables, build_tables, ensure_schema

if TYPE_CHECKING:
    from servicewire.transport.sql.settings import SqlTransportSettings

__all__ = ["Database", "close_databases", "database_for", "open_database"]

T = TypeVar("T")

_SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
_POSTGRESQL_NOW = "CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) AS DOUBLE PRECISION)"

_lock = threading.Lock()
_databases: dict[tuple[Any, ...], Database] = {}


def _normalized_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise InvalidSettings(f"Invalid SQL transport url {url!r}: {error}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if "+" not in parsed.drivername:
            # servicewire speaks PostgreSQL through psycopg 3 (the postgres extra), whatever
            # SQLAlchemy's default driver.
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise InvalidSettings(
                f"SQL transport url {url!r} names an in-memory SQLite database, which other "
                "processes cannot see: use a file (sqlite:///path/to/queues.db)"
            )
    else:
        raise InvalidSettings(
            f"SQL transport url {url!r}: only SQLite and PostgreSQL are supported"
        )
    return parsed


def _create_engine(
    url: URL,
    busy_timeout: float,
    engine_kwargs: dict[str, Any],
    synchronous_commit: bool = True,
) -> Engine:
    kwargs = dict(engine_kwargs)
    kwargs.setdefault("isolation_level", "AUTOCOMMIT")
    if url.get_backend_name() == "sqlite":
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", busy_timeout)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            finally:
                cursor.close()

        return engine
    engine = create_engine(url, **kwargs)
    if not synchronous_commit:

        @event.listens_for(engine, "connect")
        def _commit_asynchronously(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("SET synchronous_commit = off")

    return engine


class Database:
    """The engine, tables and dialect-specific SQL of one database and table prefix.

    Build it with :func:`open_database`, which shares one per process for each URL and
    prefix. Nothing connects until the first operation; the first one creates or upgrades
    the tables. Each thread keeps its connection between operations (a pool checkout per
    statement would cost as much as the statement) and returns it when it ends.

    On PostgreSQL, operations run with ``durable=False`` commit without waiting for the
    write-ahead log to reach the disk (``synchronous_commit = off``). Servers use it for
    their bookkeeping (taking, finishing, renewing): if the database crashes, the last of
    those may be lost, which only means a request is delivered again. Sending a request is
    always durable: once ``send`` returns, the request survives a database crash.
    """

    def __init__(
        self,
        url: URL,
        tables: Tables,
        engine: Engine,
        fast_engine: Engine,
        connect_args: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.connect_args = dict(connect_args or {})
        self.display_url = url.render_as_string(hide_password=True)
        self.tables = tables
        self.engine = engine
        self.fast_engine = fast_engine
        self.is_postgresql = url.get_backend_name() == "postgresql"
        self.now: ColumnElement[float] = _literal_column(
            _POSTGRESQL_NOW if self.is_postgresql else _SQLITE_NOW, Double()
        )
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._held = threading.local()

    def _prepare(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            if not self.is_postgresql and self.url.database:
                directory = Path(self.url.database).expanduser().parent
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self.engine.connect() as connection:
                ensure_schema(connection, self.tables, self.display_url)
            self._schema_ready = True

    def _holder(self) -> _Holder:
        holder: _Holder | None = getattr(self._held, "holder", None)
        if holder is None:
            holder = self._held.holder = _Holder()
        return holder

    def _connection(self, durable: bool) -> Connection:
        connections = self._holder().connections
        connection = connections.get(durable)
        if connection is None or connection.invalidated or connection.closed:
            if not self._schema_ready:
                self._prepare()
            engine = self.engine if durable else self.fast_engine
            connection = connections[durable] = engine.connect()
        return connection

    def _release(self, durable: bool) -> None:
        connection = self._holder().connections.pop(durable, None)
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    @contextmanager
    def connect(self, durable: bool = True) -> Iterator[Connection]:
        """This thread's connection (autocommit); see :meth:`run`."""
        yield self._connection(durable)

    def run(self, operation: Callable[[Connection], T], durable: bool = True) -> T:
        """Run ``operation`` on this thread's connection, once more on a fresh connection if
        that one turned out to be dead (the database restarted, say)."""
        try:
            return operation(self._connection(durable))
        except DBAPIError as error:
            self._release(durable)
            if not error.connection_invalidated:
                raise
        return operation(self._connection(durable))

    @contextmanager
    def transaction(self, connection: Connection) -> Iterator[Connection]:
        """A transaction of several statements (the write lock up front on SQLite)."""
        connection.exec_driver_sql("BEGIN" if self.is_postgresql else "BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")

    def with_notification(
        self, insert: Insert, inserted_id: Any, channel: Any, payload: Any = ""
    ) -> Insert | Select[Any]:
        """On PostgreSQL, ``insert`` made to ``NOTIFY channel, payload`` in the same statement
        (once per inserted row; a row of the inserted id each); elsewhere ``insert`` as it is."""
        if not self.is_postgresql:
            return insert
        written = insert.returning(inserted_id).cte("written")
        return select(written.c.id, func.pg_notify(channel, payload)).select_from(written)

    def channel(self, kind: str, key: str) -> str:
        """The PostgreSQL notification channel of ``kind`` (``requests``, ``fanout``,
        ``replies``) for ``key`` (a service name or a caller's identity)."""
        digest = hashlib.sha1(f"{self.tables.prefix}|{kind}|{key}".encode()).hexdigest()
        return f"{self.tables.prefix}{kind}_{digest[:24]}"

    def psycopg_connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``psycopg.connect`` for a connection of our own (LISTEN):
        the URL's, and the engine's ``connect_args`` (``sslmode``, say)."""
        _args, kwargs = self.engine.dialect.create_connect_args(self.url)
        kwargs.pop("context", None)
        return {**kwargs, **self.connect_args}

    def close(self) -> None:
        """Return this thread's connections and close the pools (other threads' connections
        return to their pool when the threads end). The database may be used again."""
        self._release(True)
        self._release(False)
        self.engine.dispose()
        if self.fast_engine is not self.engine:
            self.fast_engine.dispose()

    def renew_after_fork(self) -> None:
        # The parent's connections (and their sockets) must not be used by the child: drop
        # them without closing them; the pools then connect afresh.
        self._held = threading.local()
        self._schema_lock = threading.Lock()
        self.engine.dispose(close=False)
        if self.fast_engine is not self.engine:
            self.fast_engine.dispose(close=False)


class _Holder:
    """One thread's connections to one database, returned to their pool when the thread
    ends (a connection left to the garbage collector would stay checked out until a
    collection, and threads that come and go would exhaust the pool)."""

    __slots__ = ("__weakref__", "connections")

    def __init__(self) -> None:
        self.connections: dict[bool, Connection] = {}
        weakref.finalize(self, _return_connections, self.connections, os.getpid()).atexit = False


def _return_connections(connections: dict[bool, Connection], pid: int) -> None:
    if os.getpid() != pid:
        return  # a forked child must leave its parent's connections alone
    for connection in connections.values():
        with contextlib.suppress(Exception):
            connection.close()


def open_database(
    url: str,
    table_prefix: str,
    busy_timeout_in_seconds: float = 10,
    engine_kwargs: dict[str, Any] | None = None,
) -> Database:
    """The process's shared :class:`Database` for ``url`` and ``table_prefix``."""
    parsed = _normalized_url(url)
    engine_kwargs = engine_kwargs or {}
    key = (
        parsed.render_as_string(hide_password=False),
        table_prefix,
        busy_timeout_in_seconds,
        repr(sorted(engine_kwargs.items())),
    )
    with _lock:
        database = _databases.get(key)
        if database is None:
            engine = _create_engine(parsed, busy_timeout_in_seconds, engine_kwargs)
            fast_engine = engine
            if parsed.get_backend_name() == "postgresql":
                fast_engine = _create_engine(
                    parsed, busy_timeout_in_seconds, engine_kwargs, synchronous_commit=False
                )
            database = Database(
                parsed,
                build_tables(table_prefix),
                engine,
                fast_engine,
                engine_kwargs.get("connect_args"),
            )
            _databases[key] = database
        return database


def database_for(settings: SqlTransportSettings) -> Database:
    """The shared :class:`Database` a transport with ``settings`` uses."""
    return open_database(
        settings.database_url,
        settings.table_prefix,
        settings.busy_timeout_in_seconds,
        settings.engine_kwargs,
    )


def close_databases() -> None:
    """Close every database this process opened (see :meth:`Database.close`) and forget
    them; the next transport opens afresh."""
    with _lock:
        databases = list(_databases.values())
        _databases.clear()
    for database in databases:
        database.close()


def _renew_databases_after_fork() -> None:
    # Locks another thread held at the fork would never be released: replace them.
    global _lock  # noqa: PLW0603 - the module's lock itself must be replaced
    _lock = threading.Lock()
    for database in _databases.values():
        database.renew_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_databases_after_fork)
