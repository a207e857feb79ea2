"""Dead letters: messages given up on, kept with their last error until someone decides.

A work-queue request becomes a dead letter when it was delivered ``max_attempts`` times
without being finished (each time its server died or hung past the visibility timeout), or
when its row cannot be decoded. A fan-out message becomes one for a single consumer when
its job failed ``max_attempts`` times there, when the job was rejected as the caller's
fault, or when it cannot be decoded; the consumer then moves on to the next message.

:class:`DeadLetters` lists them, re-queues them (a work-queue request goes back to its
service's queue; a fan-out message goes to the end of the log for its consumer only) or
discards them. ``python -m servicewire.transport.sql`` does the same from a shell.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, literal, select

from servicewire.transport.sql.database import Database, open_database
from servicewire.transport.sql.envelope import decode_payload
from servicewire.transport.sql.schema import TakenMessage
from servicewire.transport.sql.settings import default_database_url

__all__ = ["DeadLetter", "DeadLetters", "bury", "purge_dead_letters"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter. ``consumer`` is ``None`` for a work-queue request."""

    id: int
    service: str
    consumer: str | None
    message_id: int
    request_id: int
    reply_to: str | None
    attempts: int
    last_error: str
    enqueued_at: float
    dead_at: float
    payload: bytes

    def message(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The message's ``(meta, body)``; ``InvalidMessage`` if it cannot be decoded."""
        return decode_payload(self.payload)


def bury(
    connection: Connection,
    database: Database,
    service: str,
    consumer: str | None,
    message: TakenMessage,
    error: str,
) -> None:
    """Record ``message`` as a dead letter with ``error`` (the caller removes its row)."""
    connection.execute(
        insert(database.tables.dead_letters).values(
            service=service,
            consumer=consumer,
            message_id=message.row_id,
            request_id=message.request_id,
            reply_to=message.reply_to,
            payload=message.payload,
            attempts=message.attempts,
            last_error=error,
            enqueued_at=message.enqueued_at,
            dead_at=database.now,
        )
    )


class DeadLetters:
    """Inspect and act on the dead letters of a database.

    ``url`` and ``table_prefix`` are those of the transports (``url`` defaults the same
    way: ``SERVICEWIRE_SQL_URL``, else the default SQLite file).
    """

    def __init__(
        self,
        url: str | None = None,
        table_prefix: str = "servicewire_",
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.database = open_database(
            url or default_database_url(), table_prefix, engine_kwargs=engine_kwargs
        )

    def list(
        self,
        service: str | None = None,
        consumer: str | None = None,
        limit: int | None = 100,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first, of one service (and fan-out consumer) or all."""
        table = self.database.tables.dead_letters
        query = self._query()
        if service is not None:
            query = query.where(table.c.service == service)
        if consumer is not None:
            query = query.where(table.c.consumer == consumer)
        if limit is not None:
            query = query.limit(limit)
        rows = self.database.run(lambda connection: connection.execute(query).all())
        return [DeadLetter(*row) for row in rows]

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        """One dead letter by id, or ``None``."""
        query = self._query().where(self.database.tables.dead_letters.c.id == dead_letter_id)
        row = self.database.run(lambda connection: connection.execute(query).first())
        return None if row is None else DeadLetter(*row)

    def _query(self) -> Select[Any]:
        table = self.database.tables.dead_letters
        return select(
            table.c.id, table.c.service, table.c.consumer, table.c.message_id,
            table.c.request_id, table.c.reply_to, table.c.attempts, table.c.last_error,
            table.c.enqueued_at, table.c.dead_at, table.c.payload,
        ).order_by(table.c.id)  # fmt: skip

    def requeue(
        self, dead_letters: Iterable[DeadLetter | int], message_expiry_in_seconds: float = 60
    ) -> int:
        """Deliver dead letters again, each with a fresh expiry; return how many.

        A work-queue request goes to the end of its service's queue with its attempts
        reset; a fan-out message goes to the end of its service's log, for its consumer
        only. Each dead letter is removed as it is re-queued.
        """
        ids = _ids(dead_letters)
        database = self.database
        tables = database.tables
        dead = tables.dead_letters
        now = database.now
        requeued = 0
        for dead_letter_id in ids:
            with database.connect() as connection, database.transaction(connection):
                row = connection.execute(
                    select(dead.c.service, dead.c.consumer).where(dead.c.id == dead_letter_id)
                ).first()
                if row is None:
                    continue
                service, consumer = row
                source = dead.c.request_id, dead.c.reply_to, dead.c.payload
                expiry = now + literal(float(message_expiry_in_seconds))
                if consumer is None:
                    target = tables.requests
                    columns = [
                        "service", "request_id", "reply_to", "payload",
                        "enqueued_at", "expires_at", "visible_at", "attempts",
                    ]  # fmt: skip
                    values = select(dead.c.service, *source, now, expiry, now, literal(0))
                    channel = database.channel("requests", service)
                else:
                    target = tables.fanout_messages
                    columns = [
                        "service", "target_consumer", "request_id", "reply_to", "payload",
                        "enqueued_at", "expires_at",
                    ]  # fmt: skip
                    values = select(dead.c.service, dead.c.consumer, *source, now, expiry)
                    channel = database.channel("fanout", service)
                connection.execute(
                    insert(target).from_select(columns, values.where(dead.c.id == dead_letter_id))
                )
                connection.execute(delete(dead).where(dead.c.id == dead_letter_id))
                if database.is_postgresql:
                    connection.execute(select(func.pg_notify(channel, "")))
                requeued += 1
        return requeued

    def discard(self, dead_letters: Iterable[DeadLetter | int]) -> int:
        """Delete dead letters for good; return how many."""
        table = self.database.tables.dead_letters
        statement = delete(table).where(table.c.id.in_(_ids(dead_letters)))
        return self.database.run(lambda connection: connection.execute(statement).rowcount)

    def purge(self, older_than_in_seconds: float) -> int:
        """Delete the dead letters older than ``older_than_in_seconds``; return how many."""
        return self.database.run(
            lambda connection: purge_dead_letters(connection, self.database, older_than_in_seconds)
        )


def purge_dead_letters(connection: Connection, database: Database, older_than: float) -> int:
    """Delete the dead letters older than ``older_than`` seconds; return how many."""
    table = database.tables.dead_letters
    statement = delete(table).where(table.c.dead_at < database.now - literal(float(older_than)))
    return connection.execute(statement).rowcount


def _ids(dead_letters: Iterable[DeadLetter | int]) -> list[int]:
    return [item.id if isinstance(item, DeadLetter) else int(item) for item in dead_letters]
