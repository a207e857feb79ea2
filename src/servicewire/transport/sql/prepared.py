"""Statements of the hot path: built with SQLAlchemy Core, compiled once, run on the driver.

SQLAlchemy's per-execution work (execution context, parameter processing, result objects)
costs as much as SQLite's own execution of these small statements, and several run per
message. So each hot statement is compiled once, for its database's dialect, and executed
on the DBAPI cursor of the SQLAlchemy connection. psycopg prepares a statement on the server
after a few executions of the same SQL (its ``prepare_threshold``), and sqlite3 keeps
compiled statements in its cache, so these are prepared statements in both databases.

Driver errors are turned into SQLAlchemy's exceptions, with a lost connection invalidated,
exactly as SQLAlchemy would: callers handle one kind of error either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared"]


class Prepared:
    """One statement, compiled for ``dialect``. Every parameter it needs must be given
    (its column defaults are not applied): the hot-path statements name all their values."""

    __slots__ = ("_defaults", "_dialect", "_positions", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        self._dialect = dialect
        self._defaults = {key: value for key, value in compiled.params.items() if value is not None}
        positions = compiled.positiontup
        self._positions: Sequence[str] | None = (
            tuple(positions) if dialect.positional and positions is not None else None
        )

    def _parameters(self, parameters: Mapping[str, Any]) -> Any:
        merged = {**self._defaults, **parameters}
        if self._positions is None:
            return merged
        return tuple(merged[name] for name in self._positions)

    def _execute(self, connection: Connection, parameters: Mapping[str, Any]) -> Any:
        arguments = self._parameters(parameters)
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, arguments)
        except self._dialect.loaded_dbapi.Error as error:
            lost = self._dialect.is_disconnect(error, dbapi_connection, cursor)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(
                self.sql,
                arguments,
                error,
                self._dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=self._dialect,
            ) from error
        return cursor

    # Each closes its cursor at once: an SQLite statement left half-read would hold its read
    # transaction (and the WAL) open.

    def first(self, connection: Connection, parameters: Mapping[str, Any]) -> Any:
        """The first row, or ``None``."""
        cursor = self._execute(connection, parameters)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def all(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Any]:
        """Every row."""
        cursor = self._execute(connection, parameters)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def rowcount(self, connection: Connection, parameters: Mapping[str, Any]) -> int:
        """How many rows the statement changed."""
        cursor = self._execute(connection, parameters)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()
