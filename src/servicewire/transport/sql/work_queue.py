"""Work-queue delivery: each request is taken by exactly one of the competing servers.

Taking a request is one statement: the oldest visible row of the service is updated with a
lease (``visible_at`` moves to the end of the visibility timeout, ``attempts`` goes up) and
returned. On PostgreSQL the row is chosen ``FOR UPDATE SKIP LOCKED``, so competing servers
never wait on each other's rows; SQLite has a single writer, which makes the statement
atomic by itself. Finishing a request deletes its row, in the same statement (PostgreSQL) or
transaction (SQLite) that writes its reply. A server that dies leaves its lease to run out;
the row becomes visible again and is taken by another server.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Double,
    Executable,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from servicewire.transport.sql.database import Database
from servicewire.transport.sql.replies import Replies
from servicewire.transport.sql.schema import TakenMessage

__all__ = ["WorkQueue"]


class WorkQueue:
    """The statements of one service's work queue, built once."""

    def __init__(self, database: Database, service: str, replies: Replies) -> None:
        self.database = database
        self.service = service
        self.replies = replies
        self.channel = database.channel("requests", service)
        table = database.tables.requests
        now = database.now
        c = table.c

        row = select(
            bindparam("queue", type_=String()),
            bindparam("request", type_=BigInteger()),
            bindparam("caller", type_=String()),
            bindparam("data", type_=LargeBinary()),
            now,
            now + bindparam("ttl", type_=Double()),
            now,
            literal(0, Integer()),
        )
        waiting = (
            select(func.count())
            .select_from(
                select(c.id)
                .where(c.service == bindparam("queue"))
                .limit(bindparam("capacity"))
                .subquery()
            )
            .scalar_subquery()
        )
        columns = [
            "service", "request_id", "reply_to", "payload",
            "enqueued_at", "expires_at", "visible_at", "attempts",
        ]  # fmt: skip
        self._enqueue = self._notifying(insert(table).from_select(columns, row))
        self._enqueue_bounded = self._notifying(
            insert(table).from_select(columns, row.where(waiting < bindparam("capacity")))
        )

        visible = (c.service == bindparam("queue")) & (c.visible_at <= now)
        self._peek = select(c.id).where(visible).limit(1)
        candidate = select(c.id).where(visible).order_by(c.id).limit(1)
        if database.is_postgresql:
            candidate = candidate.with_for_update(skip_locked=True)
        taken_columns = (
            c.id, c.request_id, c.reply_to, c.payload, c.attempts, c.enqueued_at,
            (c.expires_at < now).label("expired"),
        )  # fmt: skip
        self._claim = (
            update(table)
            .where(c.id == candidate.scalar_subquery())
            .values(
                attempts=c.attempts + 1,
                visible_at=now + bindparam("lease", type_=Double()),
                taken_by=bindparam("holder"),
            )
            .returning(*taken_columns)
        )
        self._take = (
            delete(table).where(c.id == candidate.scalar_subquery()).returning(*taken_columns)
        )
        lease_holder = (
            (c.id == bindparam("row_id"))
            & (c.taken_by == bindparam("holder"))
            & (c.attempts == bindparam("attempt"))
        )
        self._renew = (
            update(table)
            .where(lease_holder)
            .values(visible_at=now + bindparam("lease", type_=Double()))
        )
        self.delete = delete(table).where(c.id == bindparam("row_id"))
        """Delete one request row (parameter ``row_id``)."""
        self._finish_with_reply: Executable | None = None
        if database.is_postgresql:
            done = self.delete.cte("finished_request")
            written = replies.insert.returning(database.tables.replies.c.id).cte("reply")
            self._finish_with_reply = (
                select(func.pg_notify(bindparam("channel"), bindparam("caller")))
                .select_from(written)
                .add_cte(done)
            )
        self._purge = (
            delete(table)
            .where(c.service == bindparam("queue"), c.expires_at < now, c.visible_at <= now)
            .returning(c.request_id)
        )

    def _notifying(self, statement: Any) -> Executable:
        if not self.database.is_postgresql:
            return statement  # type: ignore[no-any-return]
        written = statement.returning(self.database.tables.requests.c.id).cte("queued")
        return select(written.c.id, func.pg_notify(bindparam("channel"), "")).select_from(written)

    def enqueue(
        self,
        connection: Connection,
        request_id: int,
        reply_to: str | None,
        payload: bytes,
        ttl: float,
        capacity: int,
    ) -> bool:
        """Queue a request; ``False`` if ``capacity`` (0: unbounded) requests already wait."""
        parameters: dict[str, Any] = {
            "queue": self.service,
            "request": request_id,
            "caller": reply_to,
            "data": payload,
            "ttl": ttl,
            "channel": self.channel,
        }
        if capacity:
            parameters["capacity"] = capacity
            result = connection.execute(self._enqueue_bounded, parameters)
        else:
            result = connection.execute(self._enqueue, parameters)
        if self.database.is_postgresql:
            return result.first() is not None
        return result.rowcount == 1

    def claim(self, connection: Connection, worker: str, lease: float) -> TakenMessage | None:
        """Take the oldest visible request under a lease of ``lease`` seconds."""
        if not self.database.is_postgresql and (
            connection.execute(self._peek, {"queue": self.service}).first() is None
        ):
            return None  # a read takes no lock on SQLite: write only when there is work
        row = connection.execute(
            self._claim, {"queue": self.service, "holder": worker, "lease": lease}
        ).first()
        return None if row is None else TakenMessage(*row)

    def take(self, connection: Connection) -> TakenMessage | None:
        """Remove and return the oldest visible request (at-most-once delivery)."""
        if not self.database.is_postgresql and (
            connection.execute(self._peek, {"queue": self.service}).first() is None
        ):
            return None
        row = connection.execute(self._take, {"queue": self.service}).first()
        if row is None:
            return None
        return TakenMessage(row[0], row[1], row[2], row[3], row[4] + 1, row[5], bool(row[6]))

    def renew(
        self, connection: Connection, row_id: int, worker: str, attempts: int, lease: float
    ) -> bool:
        """Extend a lease this worker still holds; ``False`` if it no longer does."""
        parameters = {"row_id": row_id, "holder": worker, "attempt": attempts, "lease": lease}
        return connection.execute(self._renew, parameters).rowcount == 1

    def finish(self, connection: Connection, row_id: int, reply: dict[str, Any] | None) -> None:
        """Delete a finished request and write its reply (``Replies.parameters``), at once."""
        if reply is None:
            connection.execute(self.delete, {"row_id": row_id})
        elif self._finish_with_reply is not None:
            connection.execute(self._finish_with_reply, {**reply, "row_id": row_id})
        else:
            with self.database.transaction(connection):
                connection.execute(self.replies.write, reply)
                connection.execute(self.delete, {"row_id": row_id})

    def purge_expired(self, connection: Connection) -> list[int]:
        """Delete expired requests nobody holds; return their request ids."""
        rows = connection.execute(self._purge, {"queue": self.service}).all()
        return [row[0] for row in rows]
