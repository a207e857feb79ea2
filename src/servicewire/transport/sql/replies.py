"""The reply table: responses waiting for their caller, keyed by its ``reply_to``."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Delete,
    Double,
    bindparam,
    delete,
    insert,
    select,
)

from servicewire.transport.sql.database import Database
from servicewire.transport.sql.envelope import caller_key
from servicewire.transport.sql.prepared import Prepared

__all__ = ["Replies", "ReplyRow"]


class ReplyRow(NamedTuple):
    row_id: int
    request_id: int
    payload: bytes
    expired: bool


class Replies:
    """Writes replies (notifying their caller on PostgreSQL) and hands them to the caller."""

    def __init__(self, database: Database) -> None:
        self.database = database
        table = database.tables.replies
        now = database.now
        write = insert(table).values(
            reply_to=bindparam("caller"),
            request_id=bindparam("request"),
            payload=bindparam("data"),
            expires_at=now + bindparam("ttl", type_=Double()),
        )
        self.insert = write
        """The bare ``INSERT`` (for statements that write a reply among other things)."""
        notifying = database.with_notification(
            write, table.c.id, bindparam("channel"), bindparam("caller")
        )
        dialect = database.engine.dialect
        self._write = Prepared(notifying, dialect)
        mine = table.c.reply_to == bindparam("caller")
        self._peek = Prepared(select(table.c.id).where(mine).limit(1), dialect)
        take = (
            delete(table)
            .where(mine)
            .returning(
                table.c.id,
                table.c.request_id,
                table.c.payload,
                (table.c.expires_at < now).label("expired"),
            )
        )
        self._take = Prepared(take, dialect)
        self._purge: Delete = delete(table).where(table.c.expires_at < now)

    def parameters(
        self, reply_to: str, request_id: int, payload: bytes, ttl: float
    ) -> dict[str, Any]:
        """The parameters of :attr:`write` for one reply."""
        parameters: dict[str, Any] = {
            "caller": reply_to,
            "request": request_id,
            "data": payload,
            "ttl": ttl,
        }
        if self.database.is_postgresql:
            parameters["channel"] = self.database.channel("replies", caller_key(reply_to))
        return parameters

    def put(
        self, connection: Connection, reply_to: str, request_id: int, payload: bytes, ttl: float
    ) -> None:
        self.put_with(connection, self.parameters(reply_to, request_id, payload, ttl))

    def put_with(self, connection: Connection, parameters: dict[str, Any]) -> None:
        """Write a reply given by :meth:`parameters`."""
        self._write.all(connection, parameters)

    def take_all(self, connection: Connection, reply_to: str) -> list[ReplyRow]:
        """Remove and return every reply waiting for ``reply_to``, oldest first."""
        parameters = {"caller": reply_to}
        if not self.database.is_postgresql and self._peek.first(connection, parameters) is None:
            # On SQLite a read takes no lock; only write when there is something to take.
            return []
        rows = self._take.all(connection, parameters)
        replies = [ReplyRow(row[0], row[1], bytes(row[2]), bool(row[3])) for row in rows]
        replies.sort()
        return replies

    def purge_expired(self, connection: Connection) -> int:
        """Delete the replies nobody collected in time; return how many."""
        return connection.execute(self._purge).rowcount
