"""The interface between the SQL server transport and its delivery modes.

``SqlServerTransport`` receives, answers and acknowledges; what those mean depends on the
delivery mode, and each mode is one class implementing :class:`Delivery`, chosen from the
settings when the transport is built (:func:`delivery_class`):

- :class:`~servicewire.transport.sql.work_queue_delivery.WorkQueueDelivery`: the work
  queue with at-least-once delivery (a request stays in its table under a lease until the
  server has finished it; too many unfinished deliveries make it a dead letter);
- :class:`~servicewire.transport.sql.work_queue_delivery.AtMostOnceDelivery`: the work
  queue with at-most-once delivery (a request is deleted as it is taken);
- :class:`~servicewire.transport.sql.fan_out_delivery.FanOutDelivery`: fan-out delivery
  to a named consumer (a cursor over the service's log, retries, dead letters per consumer).

The life of a message is the same in every mode: :meth:`Delivery.take` hands the next one
to serve (passing over the expired and the dead), :meth:`Delivery.renew` keeps its lease
while a job runs, :meth:`Delivery.fail` turns one that cannot be served into a dead letter,
and :meth:`Delivery.finish` lets go of it once the server is done. The response of a job
goes through :meth:`Delivery.respond`: written at once, held to be written with the
acknowledgement, or kept as the job's outcome (see
:class:`~servicewire.transport.sql.reply_path.ReplyPath`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from servicewire.errors import InvalidMessageError
from servicewire.metrics import MetricName, MetricsRecorder
from servicewire.transport.sql.database import Database
from servicewire.transport.sql.envelope import decode_payload
from servicewire.transport.sql.lease import LeaseKeeper
from servicewire.transport.sql.replies import Replies
from servicewire.transport.sql.schema import TakenMessage
from servicewire.transport.sql.settings import SqlServerTransportSettings
from servicewire.transport.sql.work_queue import WorkQueue

__all__ = ["Delivery", "DeliveryContext", "Held", "HeldKey", "decode_held"]

T = TypeVar("T")

_logger = logging.getLogger("servicewire.transport.sql")

HeldKey = tuple[Any, int]
"""How the transport knows a message it is serving: its ``reply_to`` and request id."""


@dataclass(eq=False, slots=True)
class Held:
    """A message the server is serving, decoded, and what to write when it is done."""

    message: TakenMessage
    meta: dict[str, Any]
    body: dict[str, Any]
    reply: dict[str, Any] | None = field(default=None)
    """The reply's parameters (``Replies.parameters``), written with the acknowledgement."""
    response: dict[str, Any] | None = field(default=None)
    """The job's response body, kept as the outcome of a fan-out message."""

    @property
    def key(self) -> HeldKey:
        return (self.message.reply_to, self.message.request_id)


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What every delivery mode shares with its transport, for one process (a forked
    process gets a new one, with its own worker id)."""

    service: str
    settings: SqlServerTransportSettings
    database: Database
    worker_id: str
    description: str
    metrics: MetricsRecorder
    metric_tags: Mapping[str, str]
    lease_keeper: LeaseKeeper
    queue: WorkQueue
    replies: Replies

    def run(self, operation: Callable[[Connection], T], durable: bool = False) -> T:
        # Bookkeeping may be lost in a database crash (the request is then delivered
        # again); what at-most-once delivery promises may not.
        return self.database.run(operation, durable=durable)

    def count(self, name: str, value: int = 1) -> None:
        if self.metrics.enabled:
            self.metrics.counter(name, value)

    def count_expired(self, value: int = 1) -> None:
        if self.metrics.enabled:
            self.metrics.counter(MetricName.TRANSPORT_MESSAGE_EXPIRED, value, self.metric_tags)

    def log_expired(self, message: TakenMessage) -> None:
        self.count_expired()
        _logger.warning(
            "Dropped request %s to service %r: it expired before a server took it",
            message.request_id,
            self.service,
        )


class Delivery(Protocol):
    """One delivery mode of the SQL server transport: the life of the messages it serves.

    The transport calls :meth:`take` from its receiving thread; with worker threads,
    :meth:`respond` and :meth:`finish` come from the threads that handle the jobs, and
    :meth:`renew` from the lease keeper's thread.
    """

    @property
    def channel(self) -> str:
        """The notification channel that announces new messages (PostgreSQL; known once
        :meth:`open`)."""
        ...

    @property
    def details(self) -> Mapping[str, Any]:
        """What the mode adds to every message's event-listener details (``extra``)."""
        ...

    def open(self, context: DeliveryContext) -> None:
        """Get ready to serve, in the process that serves (called once, on first use)."""
        ...

    def allow_workers(self, workers: int, description: str) -> None:
        """Get ready for worker threads that finish requests while another thread takes
        them, or refuse with ``ImproperlyConfigured`` (called before :meth:`open`)."""
        ...

    def take(self) -> Held | None:
        """The next message to serve, decoded, under a lease where the mode has leases;
        ``None`` if there is none now. Expired and over-delivered messages met on the way
        are logged, counted and passed over. An undecodable one is handed to :meth:`fail`
        and raises ``InvalidMessageError`` (with what the server needs to answer it)."""
        ...

    def renew(self, held: Held) -> bool:
        """Extend the lease on a message being served; ``False`` if it was lost."""
        ...

    def fail(self, message: TakenMessage, error: Exception) -> InvalidMessageError:
        """Make a message that cannot be served (its payload cannot be decoded: ``error``)
        a dead letter, and return the error to raise for it."""
        ...

    def finish(self, held: Held) -> None:
        """The server is done with a message: acknowledge it (and write its reply, where
        the mode writes it then)."""
        ...

    def respond(
        self, held: Held | None, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """The reply path: the response to a request (``held`` if it is being served)."""
        ...

    def purge(self) -> None:
        """Delete what only this mode keeps and nobody will read any more."""
        ...

    def close(self) -> None:
        """Give back what was taken but not handed to the server."""
        ...


def decode_held(
    message: TakenMessage,
    fail: Callable[[TakenMessage, Exception], InvalidMessageError],
    context: DeliveryContext,
) -> Held:
    """Decode a taken message; an undecodable one is counted and goes to ``fail`` (the
    delivery's :meth:`Delivery.fail`)."""
    try:
        meta, body = decode_payload(message.payload)
    except Exception as error:
        context.count("sql.request.undecodable")
        raise fail(message, error) from error
    meta["reply_to"] = message.reply_to
    return Held(message, meta, body)
