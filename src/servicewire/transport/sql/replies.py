"""The reply table: responses waiting for their caller, keyed by its ``reply_to``."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Delete,
    Double,
    Executable,
    bindparam,
    delete,
    func,
    insert,
    select,
)

from servicewire.transport.sql.database import Database
from servicewire.transport.sql.envelope import caller_key

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
        self.write: Executable = write
        if database.is_postgresql:
            written = write.returning(table.c.id).cte("written_reply")
            self.write = select(
                func.pg_notify(bindparam("channel"), bindparam("caller"))
            ).select_from(written)
        self._peek = select(table.c.id).where(table.c.reply_to == bindparam("caller")).limit(1)
        self._take = (
            delete(table)
            .where(table.c.reply_to == bindparam("caller"))
            .returning(
                table.c.id,
                table.c.request_id,
                table.c.payload,
                (table.c.expires_at < now).label("expired"),
            )
        )
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
        connection.execute(self.write, self.parameters(reply_to, request_id, payload, ttl))

    def take_all(self, connection: Connection, reply_to: str) -> list[ReplyRow]:
        """Remove and return every reply waiting for ``reply_to``, oldest first."""
        if (
            not self.database.is_postgresql
            and connection.execute(self._peek, {"caller": reply_to}).first() is None
        ):
            # On SQLite a read takes no lock; only write when there is something to take.
            return []
        rows = connection.execute(self._take, {"caller": reply_to}).all()
        replies = [ReplyRow(row[0], row[1], row[2], bool(row[3])) for row in rows]
        replies.sort()
        return replies

    def purge_expired(self, connection: Connection) -> int:
        """Delete the replies nobody collected in time; return how many."""
        return connection.execute(self._purge).rowcount
