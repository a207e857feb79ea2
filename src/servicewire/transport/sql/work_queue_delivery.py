"""Work-queue delivery for the server: at least once (leases, redelivery, dead letters) or
at most once (a request is deleted as it is taken).

Both take the service's requests from the same table (``WorkQueue`` holds the statements);
they differ in what a take means. At least once, a take is a lease: the request stays in
its table, invisible to the other servers, until this one finishes it (deleting it and
writing its reply in one go) or dies and lets the lease run out; a request taken
``max_attempts`` times without being finished becomes a dead letter. At most once, a take
is a delete, made durable before the request is served, and the reply is written as soon
as the server gives it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from servicewire.errors import InvalidMessageError
from servicewire.transport.sql.dead_letters import bury
from servicewire.transport.sql.delivery import DeliveryContext, Held, decode_held
from servicewire.transport.sql.reply_path import ReplyPath
from servicewire.transport.sql.schema import TakenMessage
from servicewire.transport.sql.settings import SqlServerTransportSettings

__all__ = ["AtMostOnceDelivery", "WorkQueueDelivery"]

_logger = logging.getLogger("servicewire.transport.sql")

_NO_DETAILS: Mapping[str, Any] = MappingProxyType({})


class _QueueDelivery:
    """What both work-queue deliveries share: the table, the reply path, dead letters."""

    details = _NO_DETAILS

    def __init__(self, settings: SqlServerTransportSettings) -> None:
        self._settings = settings

    def open(self, context: DeliveryContext) -> None:
        self._context = context
        self._queue = context.queue
        self._reply_path = ReplyPath(context)
        self.channel = context.queue.channel

    def allow_workers(self, workers: int, description: str) -> None:
        """Worker threads are welcome: each request keeps a lease (or row) of its own."""

    def fail(self, message: TakenMessage, error: Exception) -> InvalidMessageError:
        self._bury(message, f"Undecodable payload: {error}")
        meta = {"reply_to": message.reply_to} if message.reply_to else None
        return InvalidMessageError(
            f"Request {message.request_id} to service {self._context.service!r} cannot be "
            f"decoded and is now a dead letter: {error}",
            request_id=message.request_id,
            meta=meta,
        )

    def purge(self) -> None:
        """Nothing beyond what the transport purges for every mode."""

    def _bury(self, message: TakenMessage, error: str) -> None:
        context = self._context
        database = context.database

        def move(connection: Connection) -> None:
            with database.transaction(connection):
                bury(connection, database, context.service, None, message, error)
                self._forget(connection, message)

        context.run(move)
        context.count("sql.request.dead_lettered")
        _logger.error(
            "Request %s to service %r (row %s) is now a dead letter: %s",
            message.request_id,
            context.service,
            message.row_id,
            error,
        )

    def _forget(self, connection: Connection, message: TakenMessage) -> None:
        """Delete the row of a request that became a dead letter, if it still has one."""

    def _decode(self, message: TakenMessage) -> Held:
        held = decode_held(message, self.fail, self._context)
        if message.attempts > 1:
            self._context.count("sql.request.redelivered")
            _logger.warning(
                "Request %s to service %r is delivered for the %s time (an earlier delivery "
                "was not finished)",
                message.request_id,
                self._context.service,
                _ordinal(message.attempts),
            )
        return held


class WorkQueueDelivery(_QueueDelivery):
    """At-least-once delivery: a request is served under a lease and deleted, with its
    reply written, when the server finishes it.

    On PostgreSQL the statement that finishes a request also takes the next one (one round
    trip per request while there is work), unless worker threads finish requests while
    another thread receives: a finishing worker would take a request the receiving thread
    does not see.
    """

    def __init__(self, settings: SqlServerTransportSettings) -> None:
        super().__init__(settings)
        self._lease = settings.visibility_timeout_in_seconds
        self._claim_next = True
        # The request taken when the previous one was finished, not yet handed to the server.
        self._prefetched: TakenMessage | None = None

    def allow_workers(self, workers: int, description: str) -> None:
        self._claim_next = False

    def _forget(self, connection: Connection, message: TakenMessage) -> None:
        self._queue.remove(connection, message.row_id)

    def take(self) -> Held | None:
        context, queue, settings = self._context, self._queue, self._settings
        worker, lease = context.worker_id, self._lease
        while True:
            message = self._prefetched
            if message is not None:
                self._prefetched = None
            else:
                message = context.run(lambda c: queue.claim(c, worker, lease))
            if message is None:
                return None
            if message.expired:
                context.run(partial(queue.remove, row_id=message.row_id))
                context.log_expired(message)
                continue
            if message.attempts > settings.max_attempts:
                # This take is not a delivery: record the deliveries that were made.
                self._bury(
                    message._replace(attempts=message.attempts - 1),
                    f"{message.attempts - 1} deliveries were not finished within the "
                    f"visibility timeout of {settings.visibility_timeout_in_seconds} s "
                    "(the servers handling it died or hung)",
                )
                continue
            held = self._decode(message)
            context.lease_keeper.hold(held.key, partial(self.renew, held))
            return held

    def renew(self, held: Held) -> bool:
        queue, message = self._queue, held.message
        worker, lease = self._context.worker_id, self._lease
        return self._context.run(
            lambda c: queue.renew(c, message.row_id, worker, message.attempts, lease)
        )

    def respond(
        self, held: Held | None, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """A request being served gets its reply written with its acknowledgement; any
        other (one that could not be decoded, say) at once."""
        reply = self._reply_path.encode(request_id, meta, body)
        if reply is None:
            return
        if held is not None:
            held.reply = reply
            return
        self._reply_path.write(reply)

    def finish(self, held: Held) -> None:
        context, queue = self._context, self._queue
        context.lease_keeper.release(held.key)
        row_id, reply = held.message.row_id, held.reply
        worker, lease, claim_next = context.worker_id, self._lease, self._claim_next
        prefetched = context.run(
            lambda c: queue.finish(c, row_id, reply, worker, lease, claim_next=claim_next)
        )
        if claim_next:
            self._prefetched = prefetched

    def close(self) -> None:
        """Give back a request taken but not started: visible again at once."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is None:
            return
        context, queue = self._context, self._queue
        worker = context.worker_id
        try:
            context.run(lambda c: queue.release(c, prefetched.row_id, worker, prefetched.attempts))
        except DBAPIError as error:
            _logger.warning(
                "%s could not give back request %s (it is delivered again after the "
                "visibility timeout): %s",
                context.description,
                prefetched.request_id,
                error,
            )


class AtMostOnceDelivery(_QueueDelivery):
    """At-most-once delivery: a request is deleted (durably) as it is taken, so it never
    runs twice; nothing is leased, and the reply is written as soon as the server gives it."""

    def take(self) -> Held | None:
        context, queue = self._context, self._queue
        while True:
            message = context.run(queue.take, durable=True)
            if message is None:
                return None
            if message.expired:
                context.log_expired(message)
                continue
            return self._decode(message)

    def renew(self, held: Held) -> bool:
        """Nothing to renew: the request is no longer in its table."""
        return True

    def respond(
        self, held: Held | None, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        reply = self._reply_path.encode(request_id, meta, body)
        if reply is not None:
            self._reply_path.write(reply)

    def finish(self, held: Held) -> None:
        """Nothing to acknowledge: the request was deleted when it was taken."""

    def close(self) -> None:
        """Nothing taken is left unstarted."""


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"
