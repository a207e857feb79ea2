"""The server side of the SQL transport."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from servicewire.errors import (
    ImproperlyConfigured,
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
)
from servicewire.metrics import MetricName, MetricsRecorder
from servicewire.transport.base import (
    _NO_METRICS,
    MessageDetails,
    ReceivedMessage,
    ServerTransport,
)
from servicewire.transport.sql.database import Database, database_for
from servicewire.transport.sql.dead_letters import bury, purge_dead_letters
from servicewire.transport.sql.envelope import decode_payload, encode_payload, job_outcome
from servicewire.transport.sql.fan_out import FanOutCursor
from servicewire.transport.sql.lease import LeaseKeeper
from servicewire.transport.sql.replies import Replies
from servicewire.transport.sql.schema import TakenMessage
from servicewire.transport.sql.settings import SqlServerTransportSettings
from servicewire.transport.sql.wakeup import Waiter, new_listener, new_waiter
from servicewire.transport.sql.work_queue import WorkQueue

__all__ = ["SqlServerTransport"]

T = TypeVar("T")

_logger = logging.getLogger("servicewire.transport.sql")

# How long a receive backs off after a database error, so that a server whose database is
# down logs a few errors a second rather than spinning.
_ERROR_BACK_OFF = 1.0


class _Claim:
    """A message the server is handling: its row, and what to write when it is done."""

    __slots__ = ("message", "reply", "response")

    def __init__(self, message: TakenMessage) -> None:
        self.message = message
        self.reply: dict[str, Any] | None = None
        self.response: dict[str, Any] | None = None


class SqlServerTransport(ServerTransport):
    """Receives a service's requests from a SQL database and writes the replies there.

    Settings: :class:`~servicewire.transport.sql.settings.SqlServerTransportSettings`.
    Nothing connects until the first receive; the tables are created (or upgraded) then.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = SqlServerTransportSettings

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder = _NO_METRICS,
        instance_index: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(service_name, metrics, instance_index)
        self.settings = SqlServerTransportSettings.from_kwargs(
            f"SqlServerTransport of service {service_name!r}", kwargs
        )
        self._name_worker()
        self._fan_out = self.settings.delivery == "fan_out"
        self._acknowledged = (
            not self._fan_out and self.settings.delivery_guarantee == "at_least_once"
        )
        self._database: Database | None = None
        self._claims: dict[tuple[Any, int], _Claim] = {}
        self._lease_keeper = LeaseKeeper(
            self.settings.visibility_timeout_in_seconds / 3, self.description
        )
        self._next_purge = 0.0
        self._metric_tags = {"service": service_name}
        # The request taken when the previous one was finished (PostgreSQL), not yet handed
        # to the server.
        self._prefetched: TakenMessage | None = None
        # Worker threads finish requests while another thread receives: no prefetching then
        # (a finishing worker would take a request the receiving thread does not see).
        self._concurrent = False

    def enable_concurrent_requests(self, workers: int) -> None:
        """Receive on one thread while others answer and acknowledge; each thread uses a
        connection of its own, each request being handled keeps its own lease, and finishing
        a request no longer takes the next one in the same statement.

        Refused in fan-out delivery: a consumer handles its messages one at a time, in
        order, so further workers would only wait.
        """
        if self._fan_out:
            raise ImproperlyConfigured(
                f"{self.description} delivers fan-out messages one at a time, in order: "
                f"it cannot use {workers} workers (use 1, or more processes of the consumer "
                "for availability)"
            )
        self._concurrent = True

    # --- plumbing -------------------------------------------------------------------------

    def _name_worker(self) -> None:
        # The worker id marks leases as this process's: unique per process and transport.
        self.worker_id = (
            f"{socket.gethostname()}:{os.getpid()}:{self.instance_index}:{uuid.uuid4().hex[:8]}"
        )
        self.description = f"server {self.worker_id} of service {self.service_name!r}"

    def _open(self) -> Database:
        if self._database is None:
            # A server built before its process was forked must not share its parent's id.
            self._name_worker()
            self._lease_keeper.description = self.description
            settings = self.settings
            database = database_for(settings)
            self._replies = Replies(database)
            self._queue = WorkQueue(database, self.service_name, self._replies)
            self._cursor: FanOutCursor | None = None
            if settings.consumer is not None:
                self._cursor = FanOutCursor(
                    database, self.service_name, settings.consumer, self.worker_id
                )
            channel = self._cursor.channel if self._cursor else self._queue.channel
            self._listener = new_listener(database, [channel], self.description)
            self._waiter: Waiter = new_waiter(
                self._listener, settings.maximum_poll_interval_in_seconds
            )
            self._database = database
        return self._database

    def _run(self, operation: Callable[[Connection], T], durable: bool = False) -> T:
        # Bookkeeping may be lost in a database crash (the request is then delivered
        # again); what at-most-once delivery promises may not.
        assert self._database is not None
        return self._database.run(operation, durable=durable)

    def _count(self, name: str, value: int = 1) -> None:
        if self.metrics.enabled:
            self.metrics.counter(name, value)

    # --- receiving ------------------------------------------------------------------------

    def receive_request_message(self) -> ReceivedMessage:
        """The next request, waiting up to ``receive_timeout_in_seconds`` for one.

        Expired requests are dropped (logged and counted), requests delivered too often
        become dead letters, and a row that cannot be decoded becomes a dead letter and
        raises ``InvalidMessageError`` (with its request id and reply route, so that the
        server answers it). A database error raises ``MessageReceiveError`` after a short
        back-off.
        """
        self._open()
        timeout = self.settings.receive_timeout_in_seconds
        deadline = time.monotonic() + timeout
        try:
            if time.monotonic() >= self._next_purge:
                self.purge()
            while True:
                token = self._waiter.token()
                message = self._receive_once()
                if message is not None:
                    self._waiter.reset()
                    return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MessageReceiveTimeout(
                        f"No request for service {self.service_name!r} within {timeout} s"
                    )
                self._waiter.wait(token, remaining)
        except DBAPIError as error:
            _logger.warning("%s cannot read its queue: %s", self.description, error)
            time.sleep(max(0.0, min(_ERROR_BACK_OFF, deadline - time.monotonic())))
            raise MessageReceiveError(
                f"Cannot receive requests for service {self.service_name!r} from "
                f"{self._database.display_url if self._database else '?'}: {error}"
            ) from error

    def _receive_once(self) -> ReceivedMessage | None:
        while True:
            if self._prefetched is not None:
                message: TakenMessage | None = self._prefetched
                self._prefetched = None
            elif self._cursor is not None:
                message = self._take_fan_out()
            elif self._acknowledged:
                message = self._run(self._claim)
            else:
                message = self._run(self._queue.take, durable=True)
            if message is None:
                return None
            if message.expired:
                self._drop_expired(message)
                continue
            if self._acknowledged and message.attempts > self.settings.max_attempts:
                # This take is not a delivery: record the deliveries that were made.
                self._bury_request(
                    message._replace(attempts=message.attempts - 1),
                    f"{message.attempts - 1} deliveries were not finished within the "
                    f"visibility timeout of {self.settings.visibility_timeout_in_seconds} s "
                    "(the servers handling it died or hung)",
                )
                continue
            return self._accept(message)

    def _claim(self, connection: Connection) -> TakenMessage | None:
        lease = self.settings.visibility_timeout_in_seconds
        return self._queue.claim(connection, self.worker_id, lease)

    def _take_fan_out(self) -> TakenMessage | None:
        assert self._cursor is not None
        cursor, settings = self._cursor, self.settings
        message, passed = self._run(
            lambda connection: cursor.claim(
                connection, settings.visibility_timeout_in_seconds, settings.max_attempts
            )
        )
        for skipped, reason in passed:
            if reason == "expired":
                self._log_expired(skipped)
            else:
                self._count("sql.fan_out.dead_lettered")
                _logger.error(
                    "Fan-out message %s (request %s) of service %r became a dead letter of "
                    "consumer %r: its deliveries were never finished",
                    skipped.row_id,
                    skipped.request_id,
                    self.service_name,
                    settings.consumer,
                )
        return message

    def _accept(self, message: TakenMessage) -> ReceivedMessage:
        try:
            meta, body = decode_payload(message.payload)
        except Exception as error:
            self._reject_undecodable(message, error)
        if message.attempts > 1 and self._cursor is not None:
            _logger.info(
                "Fan-out message %s (request %s) of service %r: attempt %d for consumer %r",
                message.row_id,
                message.request_id,
                self.service_name,
                message.attempts,
                self._cursor.consumer,
            )
        elif message.attempts > 1:
            self._count("sql.request.redelivered")
            _logger.warning(
                "Request %s to service %r is delivered for the %s time (an earlier delivery "
                "was not finished)",
                message.request_id,
                self.service_name,
                _ordinal(message.attempts),
            )
        meta["reply_to"] = message.reply_to
        if self._fan_out:
            control = body.get("control")
            if isinstance(control, dict):
                # The consumer needs the job's outcome to retry a failure; the response is
                # handed to this transport and goes nowhere else.
                control["suppress_response"] = False
        self._claims[(message.reply_to, message.request_id)] = _Claim(message)
        if self._acknowledged or self._fan_out:
            self._lease_keeper.hold((message.reply_to, message.request_id), self._renewal(message))
        return ReceivedMessage(message.request_id, meta, body)

    def _renewal(self, message: TakenMessage) -> Callable[[], bool]:
        lease = self.settings.visibility_timeout_in_seconds
        if self._cursor is not None:
            cursor = self._cursor
            return lambda: self._run(lambda c: cursor.renew(c, message.row_id, lease))
        queue, worker = self._queue, self.worker_id
        return lambda: self._run(
            lambda c: queue.renew(c, message.row_id, worker, message.attempts, lease)
        )

    def _reject_undecodable(self, message: TakenMessage, error: Exception) -> NoReturn:
        text = f"Undecodable payload: {error}"
        self._count("sql.request.undecodable")
        if self._cursor is not None:
            cursor = self._cursor
            self._run(lambda c: cursor.fail(c, message, text, retry_in=0, give_up=True))
            _logger.error(
                "Fan-out message %s (request %s) of service %r cannot be decoded (%s); it is "
                "now a dead letter of consumer %r",
                message.row_id,
                message.request_id,
                self.service_name,
                error,
                self.settings.consumer,
            )
            raise InvalidMessageError(text, request_id=message.request_id, meta=None)
        self._bury_request(message, text)
        meta = {"reply_to": message.reply_to} if message.reply_to else None
        raise InvalidMessageError(
            f"Request {message.request_id} to service {self.service_name!r} cannot be "
            f"decoded and is now a dead letter: {error}",
            request_id=message.request_id,
            meta=meta,
        )

    def _bury_request(self, message: TakenMessage, error: str) -> None:
        database, queue = self._database, self._queue
        assert database is not None

        def move(connection: Connection) -> None:
            with database.transaction(connection):
                bury(connection, database, self.service_name, None, message, error)
                if self._acknowledged:
                    queue.remove(connection, message.row_id)

        self._run(move)
        self._count("sql.request.dead_lettered")
        _logger.error(
            "Request %s to service %r (row %s) is now a dead letter: %s",
            message.request_id,
            self.service_name,
            message.row_id,
            error,
        )

    def _drop_expired(self, message: TakenMessage) -> None:
        if self._acknowledged:
            self._run(lambda c: self._queue.remove(c, message.row_id))
        self._log_expired(message)

    def _count_expired(self, value: int = 1) -> None:
        if self.metrics.enabled:
            self.metrics.counter(MetricName.TRANSPORT_MESSAGE_EXPIRED, value, self._metric_tags)

    def _log_expired(self, message: TakenMessage) -> None:
        self._count_expired()
        _logger.warning(
            "Dropped request %s to service %r: it expired before a server took it",
            message.request_id,
            self.service_name,
        )

    def message_details(self, request_id: int, meta: dict[str, Any]) -> MessageDetails:
        """The service's queue and the delivery attempt of a request being handled, with
        ``extra``: ``row_id`` (its row in the requests or fan-out table), ``enqueued_at``
        (the database's clock, in seconds since the epoch), ``worker_id`` (this server's
        lease holder name) and, in fan-out delivery, ``consumer``."""
        claim = self._claims.get((meta.get("reply_to"), request_id))
        if claim is None:
            return MessageDetails(request_id, self.service_name, None)
        message = claim.message
        extra: dict[str, Any] = {
            "row_id": message.row_id,
            "enqueued_at": message.enqueued_at,
            "worker_id": self.worker_id,
        }
        if self.settings.consumer is not None:
            extra["consumer"] = self.settings.consumer
        return MessageDetails(request_id, self.service_name, message.attempts, extra)

    # --- answering ------------------------------------------------------------------------

    def send_response_message(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """Write the reply (for a request being handled: when it is completed, in one go
        with its acknowledgement). Raises ``MessageTooLarge`` over
        ``maximum_message_size_in_bytes`` and ``InvalidField`` for a value that cannot be
        serialized."""
        reply_to = meta.get("reply_to")
        claim = self._claims.get((reply_to, request_id))
        if self._fan_out:
            if claim is not None:
                claim.response = body
            return
        if not isinstance(reply_to, str) or not reply_to:
            _logger.warning(
                "Dropped the response to request %s of service %r: the request names no reply_to",
                request_id,
                self.service_name,
            )
            return
        settings = self.settings
        payload = encode_payload(
            meta,
            body,
            maximum_size=settings.maximum_message_size_in_bytes,
            log_larger_than=settings.log_messages_larger_than_bytes,
            description=f"response to request {request_id} of service {self.service_name!r}",
        )
        if self.metrics.enabled:
            self.metrics.histogram(
                MetricName.TRANSPORT_RESPONSE_SIZE, len(payload), self._metric_tags
            )
        reply = self._replies.parameters(
            reply_to, request_id, payload, settings.message_expiry_in_seconds
        )
        if claim is not None and self._acknowledged:
            claim.reply = reply
            return
        self._open()
        self._run(lambda connection: self._replies.put_with(connection, reply))

    def complete_request_message(self, request_id: int, meta: dict[str, Any]) -> None:
        """Acknowledge a request the server is done with: delete it and write its reply
        (work queue), or move the consumer's cursor, retry or bury it (fan-out)."""
        key = (meta.get("reply_to"), request_id)
        claim = self._claims.pop(key, None)
        if claim is None:
            return
        self._lease_keeper.release(key)
        if self._cursor is not None:
            self._finish_fan_out(self._cursor, claim)
        elif self._acknowledged:
            queue, row_id, reply = self._queue, claim.message.row_id, claim.reply
            lease = self.settings.visibility_timeout_in_seconds
            claim_next = not self._concurrent
            prefetched = self._run(
                lambda connection: queue.finish(
                    connection, row_id, reply, self.worker_id, lease, claim_next=claim_next
                )
            )
            if claim_next:
                self._prefetched = prefetched

    def _finish_fan_out(self, cursor: FanOutCursor, claim: _Claim) -> None:
        message = claim.message
        outcome, error = job_outcome(claim.response)
        if outcome == "succeeded":
            held = self._run(lambda c: cursor.finish(c, message.row_id))
        else:
            assert error is not None
            give_up = outcome == "rejected" or message.attempts >= self.settings.max_attempts
            delay = self.settings.fan_out_retry_delay_in_seconds
            held = self._run(
                lambda c: cursor.fail(c, message, error, retry_in=delay, give_up=give_up)
            )
            if held and give_up:
                self._count("sql.fan_out.dead_lettered")
                _logger.error(
                    "Fan-out message %s (request %s) of service %r is now a dead letter of "
                    "consumer %r after %d attempt(s): %s",
                    message.row_id,
                    message.request_id,
                    self.service_name,
                    cursor.consumer,
                    message.attempts,
                    error,
                )
            elif held:
                self._count("sql.fan_out.retried")
                _logger.warning(
                    "Fan-out message %s (request %s) of service %r failed for consumer %r "
                    "(attempt %d of %d); retrying in %s s: %s",
                    message.row_id,
                    message.request_id,
                    self.service_name,
                    cursor.consumer,
                    message.attempts,
                    self.settings.max_attempts,
                    delay,
                    error,
                )
        if not held:
            _logger.warning(
                "%s lost its lease on fan-out message %s before finishing it; another "
                "process of consumer %r has taken it over",
                self.description,
                message.row_id,
                cursor.consumer,
            )

    # --- housekeeping ---------------------------------------------------------------------

    def purge(self) -> None:
        """Delete what nobody will read: expired requests and replies, fan-out messages
        every consumer has passed, old dead letters. Servers do this every
        ``purge_interval_in_seconds``; errors are logged, never raised."""
        database = self._open()
        self._next_purge = time.monotonic() + self.settings.purge_interval_in_seconds
        try:
            expired = self._run(self._queue.purge_expired)
            if expired:
                self._count_expired(len(expired))
                _logger.warning(
                    "Dropped %d expired request(s) to service %r before any server took them: %s",
                    len(expired),
                    self.service_name,
                    ", ".join(map(str, expired[:20])) + (", ..." if len(expired) > 20 else ""),
                )
            replies = self._run(self._replies.purge_expired)
            if replies:
                self._count("sql.reply.purged", replies)
                _logger.info("Purged %d reply(ies) nobody collected in time", replies)
            cursor = self._cursor
            if cursor is not None:
                self._run(cursor.purge)
            retention = self.settings.dead_letter_retention_in_seconds
            if retention is not None:
                self._run(lambda c: purge_dead_letters(c, database, retention))
        except DBAPIError as error:
            _logger.warning("%s could not purge old rows: %s", self.description, error)

    def close(self) -> None:
        """Stop: give back a request taken but not started, stop renewing leases, stop
        listening."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            queue = self._queue
            try:
                self._run(
                    lambda c: queue.release(
                        c, prefetched.row_id, self.worker_id, prefetched.attempts
                    )
                )
            except DBAPIError as error:
                _logger.warning(
                    "%s could not give back request %s (it is delivered again after the "
                    "visibility timeout): %s",
                    self.description,
                    prefetched.request_id,
                    error,
                )
        self._lease_keeper.close()
        if self._database is not None and self._listener is not None:
            self._listener.close()


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"
