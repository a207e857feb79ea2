"""The client side of the SQL transport (the asyncio twin is in ``aio``)."""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from servicewire.errors import (
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
)
from servicewire.metrics import MetricName, MetricsRecorder
from servicewire.transport.base import _NO_METRICS, ClientTransport, ReceivedMessage
from servicewire.transport.sql.database import Database, database_for
from servicewire.transport.sql.envelope import decode_payload, encode_payload, reply_identity
from servicewire.transport.sql.fan_out import FanOutLog
from servicewire.transport.sql.replies import Replies
from servicewire.transport.sql.settings import SqlClientTransportSettings
from servicewire.transport.sql.wakeup import PostgresListener, Waiter, new_listener, new_waiter
from servicewire.transport.sql.work_queue import WorkQueue

__all__ = ["NO_MESSAGE", "ClientCore", "Inbox", "SqlClientTransport"]

_logger = logging.getLogger("servicewire.transport.sql")

NO_MESSAGE = ReceivedMessage(None, None, None)

TakenReplies = tuple[list[ReceivedMessage], int, "str | None"]
"""Replies taken from the table: the messages, how many were dropped, and the problems of
the undecodable ones (see :meth:`ClientCore.take_replies`)."""


class ClientCore:
    """What the sync and asyncio client transports share: settings, statements, encoding,
    and turning reply rows into messages. Its database methods block; the asyncio
    transport runs them in a worker thread."""

    def __init__(
        self, owner: str, service_name: str, metrics: MetricsRecorder, kwargs: Any
    ) -> None:
        self.service_name = service_name
        self.metrics = metrics
        self.settings = SqlClientTransportSettings.from_kwargs(
            f"{owner} of service {service_name!r}", kwargs
        )
        self.fan_out = self.settings.delivery == "fan_out"
        self.metric_tags = {"service": service_name}
        self.client_key = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._database: Database | None = None

    @property
    def database(self) -> Database:
        if self._database is None:
            with self._lock:
                if self._database is None:
                    database = database_for(self.settings)
                    self.replies = Replies(database)
                    self.queue = WorkQueue(database, self.service_name, self.replies)
                    self.log = FanOutLog(database, self.service_name)
                    self._database = database
        return self._database

    def reply_channel_listener(self) -> PostgresListener | None:
        """The listener for this client's replies (``None`` on SQLite)."""
        if self.fan_out:
            return None
        channel = self.database.channel("replies", self.client_key)
        return new_listener(self.database, [channel], f"replies of service {self.service_name!r}")

    def encode_request(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        reply_to: str,
        expects_reply: bool,
    ) -> bytes:
        """The request's payload."""
        if self.fan_out:
            if expects_reply:
                raise InvalidMessageError(
                    f"Service {self.service_name!r} is called with fan-out delivery, which "
                    "publishes to every consumer and carries no replies: send with "
                    "suppress_response=True (Client.send_request)"
                )
        else:
            meta["reply_to"] = reply_to
        payload = encode_payload(
            meta,
            body,
            maximum_size=self.settings.maximum_message_size_in_bytes,
            log_larger_than=self.settings.log_messages_larger_than_bytes,
            description=f"request {request_id} to service {self.service_name!r}",
        )
        if self.metrics.enabled:
            self.metrics.histogram(
                MetricName.TRANSPORT_REQUEST_SIZE, len(payload), self.metric_tags
            )
        return payload

    def write_request(
        self,
        request_id: int,
        reply_to: str,
        payload: bytes,
        message_expiry_in_seconds: float | None,
    ) -> None:
        """Queue (or publish) a request; ``MessageSendError`` if the queue is full or the
        database cannot be written."""
        database = self.database
        settings = self.settings
        ttl = message_expiry_in_seconds or settings.message_expiry_in_seconds
        try:
            if self.fan_out:
                database.run(lambda c: self.log.publish(c, request_id, None, payload, ttl))
                return
            queued = database.run(
                lambda c: self.queue.enqueue(
                    c, request_id, reply_to, payload, ttl, settings.queue_capacity
                )
            )
        except DBAPIError as error:
            raise MessageSendError(
                f"Cannot send request {request_id} to service {self.service_name!r} through "
                f"{database.display_url}: {error}"
            ) from error
        if not queued:
            if self.metrics.enabled:
                self.metrics.counter("sql.request.queue_full")
            raise MessageSendError(
                f"The queue of service {self.service_name!r} is full: "
                f"{settings.queue_capacity} requests are waiting (queue_capacity); is the "
                "service running?"
            )

    def receive_timeout(self, given: float | None) -> float:
        return self.settings.receive_timeout_in_seconds if given is None else given

    def take_replies(self, reply_to: str) -> TakenReplies:
        """Collect the replies waiting for ``reply_to``.

        Returns the messages (oldest first), how many replies were dropped (expired, or
        undecodable), and a description of the undecodable ones, if any.
        """
        database = self.database
        try:
            # Losing this commit in a database crash only brings the replies back, and the
            # client drops replies it no longer waits for.
            rows = database.run(lambda c: self.replies.take_all(c, reply_to), durable=False)
        except DBAPIError as error:
            raise MessageReceiveError(
                f"Cannot receive replies from service {self.service_name!r} through "
                f"{database.display_url}: {error}"
            ) from error
        messages = []
        dropped = 0
        problems = []
        for row in rows:
            if row.expired:
                dropped += 1
                if self.metrics.enabled:
                    self.metrics.counter(
                        MetricName.TRANSPORT_MESSAGE_EXPIRED, tags=self.metric_tags
                    )
                _logger.warning(
                    "Dropped the reply to request %s from service %r: it expired before it "
                    "was collected",
                    row.request_id,
                    self.service_name,
                )
                continue
            try:
                meta, body = decode_payload(row.payload)
            except Exception as error:
                dropped += 1
                self._count("sql.reply.undecodable")
                problem = f"the reply to request {row.request_id} cannot be decoded: {error}"
                _logger.error("From service %r, %s", self.service_name, problem)
                problems.append(problem)
                continue
            messages.append(ReceivedMessage(row.request_id, meta, body))
        return messages, dropped, "; ".join(problems) or None

    def _count(self, name: str) -> None:
        if self.metrics.enabled:
            self.metrics.counter(name)

    def timed_out(self, timeout: float) -> MessageReceiveTimeout:
        return MessageReceiveTimeout(
            f"No reply from service {self.service_name!r} within {timeout} s"
        )

    def undecodable(self, problems: str) -> InvalidMessageError:
        return InvalidMessageError(f"From service {self.service_name!r}, {problems}")


class Inbox:
    """One receiver's replies: collected but not yet returned, how many are still expected,
    and the waiter's token when it last looked (until the token moves, no reply can have
    arrived: PostgreSQL notifies every reply)."""

    __slots__ = ("looked_at", "outstanding", "replies", "reply_to")

    def __init__(self, reply_to: str) -> None:
        self.reply_to = reply_to
        self.replies: collections.deque[ReceivedMessage] = collections.deque()
        self.outstanding = 0
        self.looked_at: int | None = None

    def next_ready(self) -> ReceivedMessage | None:
        """A reply to return now, ``NO_MESSAGE`` if none is expected, ``None`` to wait."""
        if self.replies:
            return self.replies.popleft()
        if self.outstanding <= 0:
            return NO_MESSAGE
        return None

    def should_look(self, token: int) -> bool:
        return token != self.looked_at

    def absorb(self, token: int, taken: TakenReplies, core: ClientCore) -> None:
        """Keep what :meth:`ClientCore.take_replies` returned; raise for undecodable ones."""
        messages, dropped, problems = taken
        self.looked_at = token
        self.replies.extend(messages)
        self.outstanding = max(0, self.outstanding - len(messages) - dropped)
        if problems:
            raise core.undecodable(problems)


class _ThreadState(threading.local):
    def __init__(self, core: ClientCore, listener: PostgresListener | None) -> None:
        self.inbox = Inbox(reply_identity(core.client_key, f"{threading.get_ident():x}"))
        self.waiter: Waiter = new_waiter(listener, core.settings.maximum_poll_interval_in_seconds)


class SqlClientTransport(ClientTransport):
    """Sends a service's requests through a SQL database and collects the replies.

    Settings: :class:`~servicewire.transport.sql.settings.SqlClientTransportSettings`.
    Each thread has its own reply identity, so one transport may be shared by threads.
    Nothing connects until the first request.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = SqlClientTransportSettings
    async_transport_class: ClassVar[str | None] = (
        "servicewire.transport.sql.aio:AsyncSqlClientTransport"
    )

    def __init__(
        self, service_name: str, metrics: MetricsRecorder = _NO_METRICS, **kwargs: Any
    ) -> None:
        super().__init__(service_name, metrics)
        self.core = ClientCore("SqlClientTransport", service_name, metrics, kwargs)
        self.settings = self.core.settings
        self._listener: PostgresListener | None = None
        self._state: _ThreadState | None = None
        self._state_lock = threading.Lock()

    def _thread_state(self) -> _ThreadState:
        if self._state is None:
            with self._state_lock:
                if self._state is None:
                    self._listener = self.core.reply_channel_listener()
                    self._state = _ThreadState(self.core, self._listener)
        return self._state

    @property
    def requests_outstanding(self) -> int:
        """The replies this thread still expects, collected or not."""
        inbox = self._thread_state().inbox
        return inbox.outstanding + len(inbox.replies)

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        """Queue a request. Raises ``MessageTooLarge`` over
        ``maximum_message_size_in_bytes`` and ``MessageSendError`` when the queue is full
        or the database fails."""
        state = self._thread_state()
        reply_to = state.inbox.reply_to
        payload = self.core.encode_request(request_id, meta, body, reply_to, expects_reply)
        self.core.write_request(request_id, reply_to, payload, message_expiry_in_seconds)
        if expects_reply:
            state.inbox.outstanding += 1
            state.waiter.reset()

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """The next reply to a request this thread sent, waiting up to the timeout (default
        ``receive_timeout_in_seconds``); ``(None, None, None)`` when none is outstanding."""
        state = self._thread_state()
        inbox, waiter = state.inbox, state.waiter
        ready = inbox.next_ready()
        if ready is not None:
            return ready
        timeout = self.core.receive_timeout(receive_timeout_in_seconds)
        deadline = time.monotonic() + timeout
        while True:
            token = waiter.token()
            if inbox.should_look(token):
                inbox.absorb(token, self.core.take_replies(inbox.reply_to), self.core)
                ready = inbox.next_ready()
                if ready is not None:
                    waiter.reset()
                    return ready
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.core.timed_out(timeout)
            waiter.wait(token, remaining)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
