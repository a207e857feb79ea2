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
    BindParameter,
    Connection,
    Double,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    update,
)

from servicewire.transport.sql.database import Database
from servicewire.transport.sql.prepared import Prepared
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
        channel: BindParameter[str] = bindparam("channel")
        enqueue = database.with_notification(insert(table).from_select(columns, row), c.id, channel)
        enqueue_bounded = database.with_notification(
            insert(table).from_select(columns, row.where(waiting < bindparam("capacity"))),
            c.id,
            channel,
        )

        visible = (c.service == bindparam("queue")) & (c.visible_at <= now)
        peek = select(c.id).where(visible).limit(1)
        candidate = select(c.id).where(visible).order_by(c.id).limit(1)
        if database.is_postgresql:
            candidate = candidate.with_for_update(skip_locked=True)
        taken_columns = (
            c.id, c.request_id, c.reply_to, c.payload, c.attempts, c.enqueued_at,
            (c.expires_at < now).label("expired"),
        )  # fmt: skip
        taking = {
            "attempts": c.attempts + 1,
            "visible_at": now + bindparam("lease", type_=Double()),
            "taken_by": bindparam("holder"),
        }
        claim = (
            update(table)
            .where(c.id == candidate.scalar_subquery())
            .values(taking)
            .returning(*taken_columns)
        )
        take = delete(table).where(c.id == candidate.scalar_subquery()).returning(*taken_columns)
        lease_holder = (
            (c.id == bindparam("row_id"))
            & (c.taken_by == bindparam("holder"))
            & (c.attempts == bindparam("attempt"))
        )
        renew = (
            update(table)
            .where(lease_holder)
            .values(visible_at=now + bindparam("lease", type_=Double()))
        )
        remove = delete(table).where(c.id == bindparam("row_id"))
        dialect = database.engine.dialect
        self._enqueue = Prepared(enqueue, dialect)
        self._enqueue_bounded = Prepared(enqueue_bounded, dialect)
        self._peek = Prepared(peek, dialect)
        self._claim = Prepared(claim, dialect)
        self._take = Prepared(take, dialect)
        self._renew = Prepared(renew, dialect)
        self._remove = Prepared(remove, dialect)
        release = (
            update(table)
            .where(lease_holder)
            .values(visible_at=now, attempts=c.attempts - 1, taken_by=null())
        )
        self._release = Prepared(release, dialect)
        self._finish_and_claim: Prepared | None = None
        self._finish_with_reply_and_claim: Prepared | None = None
        if database.is_postgresql:
            # One statement finishes a request, writes (and notifies) its reply, and takes
            # the next request: one round trip per request while there is work.
            done = remove.cte("finished_request")
            notified = select(func.pg_notify(bindparam("channel"), bindparam("caller")))
            reply_row = select(
                bindparam("caller", type_=String()),
                bindparam("request", type_=BigInteger()),
                bindparam("data", type_=LargeBinary()),
                now + bindparam("ttl", type_=Double()),
            ).select_from(notified.subquery("notified"))
            reply_columns = ["reply_to", "request_id", "payload", "expires_at"]
            written = insert(database.tables.replies).from_select(reply_columns, reply_row)
            following = (
                select(c.id)
                .where(visible, c.id != bindparam("row_id"))
                .order_by(c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            claim_following = (
                update(table)
                .where(c.id == following.scalar_subquery())
                .values(taking)
                .returning(*taken_columns)
            )
            self._finish_and_claim = Prepared(claim_following.add_cte(done), dialect)
            self._finish_with_reply_and_claim = Prepared(
                claim_following.add_cte(done).add_cte(written.cte("reply")), dialect
            )
        self._purge = (
            delete(table)
            .where(c.service == bindparam("queue"), c.expires_at < now, c.visible_at <= now)
            .returning(c.request_id)
        )

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
            statement = self._enqueue_bounded
        else:
            statement = self._enqueue
        if self.database.is_postgresql:
            return statement.first(connection, parameters) is not None
        return statement.rowcount(connection, parameters) == 1

    def _visible(self, connection: Connection) -> bool:
        # On SQLite a read takes no lock: look before writing, and write only for work.
        return self.database.is_postgresql or (
            self._peek.first(connection, {"queue": self.service}) is not None
        )

    def claim(self, connection: Connection, worker: str, lease: float) -> TakenMessage | None:
        """Take the oldest visible request under a lease of ``lease`` seconds."""
        if not self._visible(connection):
            return None
        parameters = {"queue": self.service, "holder": worker, "lease": lease}
        row = self._claim.first(connection, parameters)
        return None if row is None else _taken(row, attempts=row[4])

    def take(self, connection: Connection) -> TakenMessage | None:
        """Remove and return the oldest visible request (at-most-once delivery)."""
        if not self._visible(connection):
            return None
        row = self._take.first(connection, {"queue": self.service})
        return None if row is None else _taken(row, attempts=row[4] + 1)

    def renew(
        self, connection: Connection, row_id: int, worker: str, attempts: int, lease: float
    ) -> bool:
        """Extend a lease this worker still holds; ``False`` if it no longer does."""
        parameters = {"row_id": row_id, "holder": worker, "attempt": attempts, "lease": lease}
        return self._renew.rowcount(connection, parameters) == 1

    def remove(self, connection: Connection, row_id: int) -> None:
        """Delete one request."""
        self._remove.rowcount(connection, {"row_id": row_id})

    def release(self, connection: Connection, row_id: int, worker: str, attempts: int) -> None:
        """Give back a request this worker took but did not start: visible at once, the
        take not counted as a delivery."""
        parameters = {"row_id": row_id, "holder": worker, "attempt": attempts}
        self._release.rowcount(connection, parameters)

    def finish(
        self,
        connection: Connection,
        row_id: int,
        reply: dict[str, Any] | None,
        worker: str,
        lease: float,
        *,
        claim_next: bool = True,
    ) -> TakenMessage | None:
        """Delete a finished request and write its reply (``Replies.parameters``), at once.

        On PostgreSQL, with ``claim_next``, the same statement takes the next request (as
        :meth:`claim` would) and returns it; otherwise (and always on SQLite, where a
        statement costs no round trip) it returns ``None``.
        """
        if (
            claim_next
            and self._finish_and_claim is not None
            and self._finish_with_reply_and_claim is not None
        ):
            parameters: dict[str, Any] = {
                "row_id": row_id, "queue": self.service, "holder": worker, "lease": lease,
            }  # fmt: skip
            statement = self._finish_and_claim
            if reply is not None:
                parameters.update(reply)
                statement = self._finish_with_reply_and_claim
            row = statement.first(connection, parameters)
            return None if row is None else _taken(row, attempts=row[4])
        if reply is None:
            self.remove(connection, row_id)
        else:
            with self.database.transaction(connection):
                self.replies.put_with(connection, reply)
                self.remove(connection, row_id)
        return None

    def purge_expired(self, connection: Connection) -> list[int]:
        """Delete expired requests nobody holds; return their request ids."""
        rows = connection.execute(self._purge, {"queue": self.service}).all()
        return [row[0] for row in rows]


def _taken(row: Any, attempts: int) -> TakenMessage:
    row_id, request_id, reply_to, payload, _attempts, enqueued_at, expired = row
    return TakenMessage(
        row_id, request_id, reply_to, bytes(payload), attempts, enqueued_at, bool(expired)
    )
