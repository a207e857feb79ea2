"""Fan-out delivery: every named consumer sees every message of a service, in order.

Publishers append to a per-service log. Each consumer has a cursor: the id of the last
message it finished, plus the attempts and lease of the message after it. A consumer takes
the next message under a lease and moves its cursor only when it has finished that message,
so a failing message is never skipped by a later success: it is retried (after a delay)
until ``max_attempts``, then recorded as a dead letter for that consumer, and only then does
the cursor move past it. Several processes may serve one consumer; they take turns (the
lease), which keeps the order.

A consumer's cursor is created the first time it asks for a message, just before the oldest
message still in the log: it sees the messages published since, plus any still retained.
Messages are purged once every consumer has passed them, or once they expire.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    Connection,
    Double,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from servicewire.transport.sql.database import Database
from servicewire.transport.sql.dead_letters import bury
from servicewire.transport.sql.schema import TakenMessage

__all__ = ["FanOutCursor", "FanOutLog", "Passed"]


class Passed(NamedTuple):
    """A message a consumer moved past without handling it, and why."""

    message: TakenMessage
    reason: Literal["expired", "dead"]


class FanOutLog:
    """The publishing side: append a message to a service's log."""

    def __init__(self, database: Database, service: str) -> None:
        self.database = database
        self.service = service
        self.channel = database.channel("fanout", service)
        table = database.tables.fanout_messages
        publish = insert(table).values(
            service=service,
            request_id=bindparam("request"),
            reply_to=bindparam("caller"),
            payload=bindparam("data"),
            enqueued_at=database.now,
            expires_at=database.now + bindparam("ttl", type_=Double()),
        )
        self._publish = database.with_notification(publish, table.c.id, self.channel)

    def publish(
        self,
        connection: Connection,
        request_id: int,
        reply_to: str | None,
        payload: bytes,
        ttl: float,
    ) -> None:
        connection.execute(
            self._publish,
            {"request": request_id, "caller": reply_to, "data": payload, "ttl": ttl},
        )


class FanOutCursor:
    """One consumer's side of a service's log, for one worker process."""

    def __init__(self, database: Database, service: str, consumer: str, worker: str) -> None:
        self.database = database
        self.service = service
        self.consumer = consumer
        self.worker = worker
        self.channel = database.channel("fanout", service)
        self._registered = False
        tables = database.tables
        cursors = tables.fanout_cursors
        messages = tables.fanout_messages
        now = database.now
        self._mine = (cursors.c.service == service) & (cursors.c.consumer == consumer)
        self._held = (
            self._mine
            & (cursors.c.leased_by == worker)
            & (cursors.c.current_id == bindparam("message_id"))
        )
        oldest = (
            select(func.coalesce(func.min(messages.c.id), 1) - 1)
            .where(messages.c.service == service)
            .scalar_subquery()
        )
        values = {
            "service": service, "consumer": consumer, "position": oldest, "current_id": None,
            "attempts": 0, "lease_until": 0.0, "leased_by": None, "last_error": None,
        }  # fmt: skip
        dialect_insert = postgresql_insert if database.is_postgresql else sqlite_insert
        self._register = dialect_insert(cursors).values(values).on_conflict_do_nothing()
        state = select(
            cursors.c.position,
            cursors.c.current_id,
            cursors.c.attempts,
            (cursors.c.lease_until > now).label("leased"),
            cursors.c.last_error,
        ).where(self._mine)
        self._state = state.with_for_update() if database.is_postgresql else state
        self._next = (
            select(
                messages.c.id,
                messages.c.request_id,
                messages.c.reply_to,
                messages.c.payload,
                literal(0),
                messages.c.enqueued_at,
                (messages.c.expires_at < now).label("expired"),
            )
            .where(
                messages.c.service == service,
                messages.c.id > bindparam("position"),
                messages.c.target_consumer.is_(None) | (messages.c.target_consumer == consumer),
            )
            .order_by(messages.c.id)
            .limit(1)
        )
        lease = now + bindparam("lease", type_=Double())
        self._take = (
            update(cursors)
            .where(self._mine)
            .values(
                position=bindparam("new_position"),
                current_id=bindparam("message"),
                attempts=bindparam("attempt"),
                lease_until=lease,
                leased_by=worker,
            )
        )
        passed: dict[str, Any] = {
            "position": bindparam("new_position"),
            "current_id": None,
            "attempts": 0,
            "lease_until": 0.0,
            "leased_by": None,
            "last_error": None,
        }
        self._move_past = update(cursors).where(self._mine).values(passed)
        self._finish = update(cursors).where(self._held).values(passed)
        self._renew = update(cursors).where(self._held).values(lease_until=lease)
        self._back_off = (
            update(cursors)
            .where(self._held)
            .values(lease_until=lease, leased_by=None, last_error=bindparam("error_text"))
        )
        self._purge = messages.delete().where(
            messages.c.service == service,
            (messages.c.expires_at < now)
            | (
                messages.c.id
                <= select(func.min(cursors.c.position))
                .where(cursors.c.service == service)
                .scalar_subquery()
            ),
        )

    def claim(
        self, connection: Connection, lease: float, max_attempts: int
    ) -> tuple[TakenMessage | None, list[Passed]]:
        """Take this consumer's next message under a lease of ``lease`` seconds.

        Returns the message (``None`` if there is none, or another process of this consumer
        holds the lease) and the messages moved past on the way: expired ones, and those
        whose deliveries ran out without being finished (now dead letters).
        """
        self.register(connection)
        passed: list[Passed] = []
        with self.database.transaction(connection):
            state = connection.execute(self._state).first()
            if state is None or state.leased:
                return None, passed
            position, current_id, attempts, _leased, last_error = state
            while True:
                row = connection.execute(self._next, {"position": position}).first()
                if row is None:
                    if passed:
                        connection.execute(self._move_past, {"new_position": position})
                    return None, passed
                message = TakenMessage(*row)
                attempt = attempts + 1 if current_id == message.row_id else 1
                if message.expired:
                    passed.append(Passed(message, "expired"))
                elif attempt > max_attempts:
                    buried = message._replace(attempts=attempt - 1)
                    error = (
                        f"{attempt - 1} deliveries were not finished within the visibility "
                        f"timeout; the last error before that: {last_error or 'none'}"
                    )
                    bury(connection, self.database, self.service, self.consumer, buried, error)
                    passed.append(Passed(buried, "dead"))
                else:
                    connection.execute(
                        self._take,
                        {
                            "new_position": position,
                            "message": message.row_id,
                            "attempt": attempt,
                            "lease": lease,
                        },
                    )
                    return message._replace(attempts=attempt), passed
                position, current_id, attempts, last_error = message.row_id, None, 0, None

    def register(self, connection: Connection) -> None:
        """Create this consumer's cursor if it has none (before the oldest retained
        message), so that purging keeps what it has not seen."""
        if not self._registered:
            connection.execute(self._register)
            self._registered = True

    def renew(self, connection: Connection, message_id: int, lease: float) -> bool:
        """Extend this worker's lease on ``message_id``; ``False`` if it no longer holds it."""
        parameters = {"message_id": message_id, "lease": lease}
        return connection.execute(self._renew, parameters).rowcount == 1

    def finish(self, connection: Connection, message_id: int) -> bool:
        """Move the cursor past a message this worker finished; ``False`` if the lease was
        lost meanwhile (another process of the consumer took the message over)."""
        parameters = {"message_id": message_id, "new_position": message_id}
        return connection.execute(self._finish, parameters).rowcount == 1

    def fail(
        self,
        connection: Connection,
        message: TakenMessage,
        error: str,
        *,
        retry_in: float,
        give_up: bool,
    ) -> bool:
        """Record a failed delivery: retry the message after ``retry_in`` seconds, or (when
        ``give_up``) record it as a dead letter and move past it. ``False`` if the lease
        was lost meanwhile."""
        if not give_up:
            parameters = {"message_id": message.row_id, "lease": retry_in, "error_text": error}
            return connection.execute(self._back_off, parameters).rowcount == 1
        with self.database.transaction(connection):
            parameters = {"message_id": message.row_id, "new_position": message.row_id}
            if connection.execute(self._finish, parameters).rowcount != 1:
                return False
            bury(connection, self.database, self.service, self.consumer, message, error)
        return True

    def purge(self, connection: Connection) -> int:
        """Delete the messages of this service every consumer has passed, or that expired."""
        self.register(connection)
        return connection.execute(self._purge).rowcount
