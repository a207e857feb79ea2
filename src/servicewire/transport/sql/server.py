"""The server side of the SQL transport."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from servicewire.errors import MessageReceiveError, MessageReceiveTimeout
from servicewire.metrics import MetricsRecorder
from servicewire.transport.base import (
    _NO_METRICS,
    MessageDetails,
    ReceivedMessage,
    ServerTransport,
)
from servicewire.transport.sql.database import database_for
from servicewire.transport.sql.dead_letters import purge_dead_letters
from servicewire.transport.sql.delivery import Delivery, DeliveryContext, Held, HeldKey
from servicewire.transport.sql.fan_out_delivery import FanOutDelivery
from servicewire.transport.sql.lease import LeaseKeeper
from servicewire.transport.sql.replies import Replies
from servicewire.transport.sql.settings import SqlServerTransportSettings
from servicewire.transport.sql.wakeup import Waiter, new_listener, new_waiter
from servicewire.transport.sql.work_queue import WorkQueue
from servicewire.transport.sql.work_queue_delivery import AtMostOnceDelivery, WorkQueueDelivery

__all__ = ["SqlServerTransport"]

_logger = logging.getLogger("servicewire.transport.sql")

# How long a receive backs off after a database error, so that a server whose database is
# down logs a few errors a second rather than spinning.
_ERROR_BACK_OFF = 1.0


class SqlServerTransport(ServerTransport):
    """Receives a service's requests from a SQL database and writes the replies there.

    Settings: :class:`~servicewire.transport.sql.settings.SqlServerTransportSettings`.
    Nothing connects until the first receive; the tables are created (or upgraded) then.
    What receiving, answering and completing mean in the configured delivery mode is up to
    its :class:`~servicewire.transport.sql.delivery.Delivery`.
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
        self._delivery = _delivery_for(self.settings)
        self._context: DeliveryContext | None = None
        self._held: dict[HeldKey, Held] = {}
        self._lease_keeper = LeaseKeeper(
            self.settings.visibility_timeout_in_seconds / 3, self.description
        )
        self._next_purge = 0.0
        self._metric_tags = {"service": service_name}

    def enable_concurrent_requests(self, workers: int) -> None:
        """Receive on one thread while others answer and acknowledge; each thread uses a
        connection of its own, each request being handled keeps its own lease, and finishing
        a request no longer takes the next one in the same statement.

        Refused in fan-out delivery: a consumer handles its messages one at a time, in
        order, so further workers would only wait.
        """
        self._delivery.allow_workers(workers, self.description)

    # --- plumbing -------------------------------------------------------------------------

    def _name_worker(self) -> None:
        # The worker id marks leases as this process's: unique per process and transport.
        self.worker_id = (
            f"{socket.gethostname()}:{os.getpid()}:{self.instance_index}:{uuid.uuid4().hex[:8]}"
        )
        self.description = f"server {self.worker_id} of service {self.service_name!r}"

    def _open(self) -> DeliveryContext:
        if self._context is None:
            # A server built before its process was forked must not share its parent's id.
            self._name_worker()
            self._lease_keeper.description = self.description
            settings = self.settings
            database = database_for(settings)
            replies = Replies(database)
            context = DeliveryContext(
                service=self.service_name,
                settings=settings,
                database=database,
                worker_id=self.worker_id,
                description=self.description,
                metrics=self.metrics,
                metric_tags=self._metric_tags,
                lease_keeper=self._lease_keeper,
                queue=WorkQueue(database, self.service_name, replies),
                replies=replies,
            )
            self._delivery.open(context)
            self._listener = new_listener(database, [self._delivery.channel], self.description)
            self._waiter: Waiter = new_waiter(
                self._listener, settings.maximum_poll_interval_in_seconds
            )
            self._context = context
        return self._context

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
        delivery, waiter = self._delivery, self._waiter
        try:
            if time.monotonic() >= self._next_purge:
                self.purge()
            while True:
                token = waiter.token()
                held = delivery.take()
                if held is not None:
                    waiter.reset()
                    self._held[held.key] = held
                    return ReceivedMessage(held.message.request_id, held.meta, held.body)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MessageReceiveTimeout(
                        f"No request for service {self.service_name!r} within {timeout} s"
                    )
                waiter.wait(token, remaining)
        except DBAPIError as error:
            _logger.warning("%s cannot read its queue: %s", self.description, error)
            time.sleep(max(0.0, min(_ERROR_BACK_OFF, deadline - time.monotonic())))
            raise MessageReceiveError(
                f"Cannot receive requests for service {self.service_name!r} from "
                f"{self._context.database.display_url if self._context else '?'}: {error}"
            ) from error

    def message_details(self, request_id: int, meta: dict[str, Any]) -> MessageDetails:
        """The service's queue and the delivery attempt of a request being handled, with
        ``extra``: ``row_id`` (its row in the requests or fan-out table), ``enqueued_at``
        (the database's clock, in seconds since the epoch), ``worker_id`` (this server's
        lease holder name) and, in fan-out delivery, ``consumer``."""
        held = self._held.get((meta.get("reply_to"), request_id))
        if held is None:
            return MessageDetails(request_id, self.service_name, None)
        message = held.message
        extra: dict[str, Any] = {
            "row_id": message.row_id,
            "enqueued_at": message.enqueued_at,
            "worker_id": self.worker_id,
            **self._delivery.details,
        }
        return MessageDetails(request_id, self.service_name, message.attempts, extra)

    # --- answering ------------------------------------------------------------------------

    def send_response_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        *,
        receive_follows: bool = False,
    ) -> None:
        """Write the reply (for a request being handled: when it is completed, in one go
        with its acknowledgement). Raises ``MessageTooLarge`` over
        ``maximum_message_size_in_bytes`` and ``InvalidField`` for a value that cannot be
        serialized."""
        held = self._held.get((meta.get("reply_to"), request_id))
        self._delivery.respond(held, request_id, meta, body)

    def complete_request_message(self, request_id: int, meta: dict[str, Any]) -> None:
        """Acknowledge a request the server is done with: delete it and write its reply
        (work queue), or move the consumer's cursor, retry or bury it (fan-out)."""
        held = self._held.pop((meta.get("reply_to"), request_id), None)
        if held is not None:
            self._delivery.finish(held)

    # --- housekeeping ---------------------------------------------------------------------

    def purge(self) -> None:
        """Delete what nobody will read: expired requests and replies, fan-out messages
        every consumer has passed, old dead letters. Servers do this every
        ``purge_interval_in_seconds``; errors are logged, never raised."""
        context = self._open()
        database, queue, replies = context.database, context.queue, context.replies
        self._next_purge = time.monotonic() + self.settings.purge_interval_in_seconds
        try:
            expired = context.run(queue.purge_expired)
            if expired:
                context.count_expired(len(expired))
                _logger.warning(
                    "Dropped %d expired request(s) to service %r before any server took them: %s",
                    len(expired),
                    self.service_name,
                    ", ".join(map(str, expired[:20])) + (", ..." if len(expired) > 20 else ""),
                )
            purged = context.run(replies.purge_expired)
            if purged:
                context.count("sql.reply.purged", purged)
                _logger.info("Purged %d reply(ies) nobody collected in time", purged)
            self._delivery.purge()
            retention = self.settings.dead_letter_retention_in_seconds
            if retention is not None:
                context.run(lambda c: purge_dead_letters(c, database, retention))
        except DBAPIError as error:
            _logger.warning("%s could not purge old rows: %s", self.description, error)

    def close(self) -> None:
        """Stop: give back a request taken but not started, stop renewing leases, stop
        listening."""
        if self._context is not None:
            self._delivery.close()
        self._lease_keeper.close()
        if self._context is not None and self._listener is not None:
            self._listener.close()


def _delivery_for(settings: SqlServerTransportSettings) -> Delivery:
    if settings.delivery == "fan_out":
        return FanOutDelivery(settings)
    if settings.delivery_guarantee == "at_most_once":
        return AtMostOnceDelivery(settings)
    return WorkQueueDelivery(settings)
