"""The asyncio client side of the SQL transport.

Statements are short, so they run in the default executor's threads (``asyncio.to_thread``):
the SQLite driver blocks whatever wraps it, and this keeps one engine and one set of
statements for both clients. Waiting is native: on PostgreSQL an asyncio psycopg
connection ``LISTEN``\\ s for this client's replies; on SQLite the loop sleeps between polls,
backing off as the sync client does.

One coroutine at a time receives (``AsyncClient`` dispatches replies to their callers):
concurrent calls of :meth:`AsyncSqlClientTransport.receive_response_message` take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, ClassVar

from pydantic import BaseModel

from servicewire.metrics import MetricsRecorder
from servicewire.transport.base import _NO_METRICS, AsyncClientTransport, ReceivedMessage
from servicewire.transport.sql.client import ClientCore, Inbox
from servicewire.transport.sql.envelope import reply_identity
from servicewire.transport.sql.settings import SqlClientTransportSettings
from servicewire.transport.sql.wakeup import (
    FIRST_POLL_INTERVAL,
    POSTGRES_MAXIMUM_POLL_INTERVAL,
    SQLITE_MAXIMUM_POLL_INTERVAL,
)

__all__ = ["AsyncSqlClientTransport"]

_logger = logging.getLogger("servicewire.transport.sql")


class _AsyncWaiter:
    """Sleeps with back-off (SQLite) or until a notification (PostgreSQL), bounded by the
    maximum poll interval either way. Tokens as in ``wakeup.Waiter``: equal tokens mean
    nothing was notified in between."""

    def __init__(self, core: ClientCore) -> None:
        database = core.database
        self._channel = database.channel("replies", core.client_key)
        self._connect_kwargs = database.psycopg_connect_kwargs() if database.is_postgresql else None
        configured = core.settings.maximum_poll_interval_in_seconds
        self._maximum = configured or (
            POSTGRES_MAXIMUM_POLL_INTERVAL
            if database.is_postgresql
            else SQLITE_MAXIMUM_POLL_INTERVAL
        )
        self._interval = FIRST_POLL_INTERVAL
        self._connection: Any = None
        self._generation = 0

    def token(self) -> int:
        if self._connection is None:
            self._generation += 1
        return self._generation

    async def listen(self) -> None:
        """Start listening (before looking for replies, so that none is missed)."""
        if self._connect_kwargs is None or self._connection is not None:
            return
        import psycopg

        try:
            connection = await psycopg.AsyncConnection.connect(
                **self._connect_kwargs, autocommit=True
            )
            await connection.execute(f'LISTEN "{self._channel}"')
        except Exception as error:
            _logger.warning("Cannot listen for replies (%s); polling instead", error)
            return
        self._connection = connection

    async def wait(self, timeout: float) -> None:
        if self._connection is None:
            await asyncio.sleep(max(0.0, min(self._interval, timeout)))
            self._interval = min(self._interval * 2, self._maximum)
            return
        try:
            async for _notification in self._connection.notifies(
                timeout=min(timeout, self._maximum), stop_after=1
            ):
                self._generation += 1
        except Exception as error:
            _logger.warning("Lost the connection listening for replies (%s)", error)
            await self.close()

    def reset(self) -> None:
        self._interval = FIRST_POLL_INTERVAL

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


class AsyncSqlClientTransport(AsyncClientTransport):
    """The asyncio twin of :class:`~servicewire.transport.sql.SqlClientTransport`, with the
    same settings."""

    settings_schema: ClassVar[type[BaseModel] | None] = SqlClientTransportSettings

    def __init__(
        self, service_name: str, metrics: MetricsRecorder = _NO_METRICS, **kwargs: Any
    ) -> None:
        super().__init__(service_name, metrics)
        self.core = ClientCore("AsyncSqlClientTransport", service_name, metrics, kwargs)
        self.settings = self.core.settings
        self._inbox = Inbox(reply_identity(self.core.client_key, "async"))
        self._waiter: _AsyncWaiter | None = None
        self._receiving: asyncio.Lock | None = None

    @property
    def requests_outstanding(self) -> int:
        """How many replies this transport still expects (taken or still to come)."""
        return self._inbox.outstanding + len(self._inbox.replies)

    async def _ready_waiter(self) -> _AsyncWaiter:
        if self._waiter is None:
            self._waiter = _AsyncWaiter(self.core)
        await self._waiter.listen()
        return self._waiter

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        """Queue a request (see ``SqlClientTransport.send_request_message``)."""
        reply_to = self._inbox.reply_to
        payload = self.core.encode_request(request_id, meta, body, reply_to, expects_reply)
        if expects_reply:
            # Listen before the request can be answered, so that the reply's
            # notification is not missed.
            (await self._ready_waiter()).reset()
            # Counted before the write: while it is awaited, another task's receive may
            # already take the reply, and must not find nothing outstanding.
            self._inbox.outstanding += 1
        try:
            await asyncio.to_thread(
                self.core.write_request, request_id, reply_to, payload, message_expiry_in_seconds
            )
        except BaseException:
            if expects_reply:
                self._inbox.outstanding -= 1
            raise

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """The next reply, waiting up to the timeout (default ``receive_timeout_in_seconds``);
        ``(None, None, None)`` when no request is outstanding."""
        if self._receiving is None:
            self._receiving = asyncio.Lock()
        async with self._receiving:
            return await self._receive(receive_timeout_in_seconds)

    async def _receive(self, receive_timeout_in_seconds: int | float | None) -> ReceivedMessage:
        inbox = self._inbox
        ready = inbox.next_ready()
        if ready is not None:
            return ready
        timeout = self.core.receive_timeout(receive_timeout_in_seconds)
        deadline = time.monotonic() + timeout
        waiter = await self._ready_waiter()
        while True:
            await waiter.listen()
            token = waiter.token()
            if inbox.should_look(token):
                taken = await asyncio.to_thread(self.core.take_replies, inbox.reply_to)
                inbox.absorb(token, taken, self.core)
                ready = inbox.next_ready()
                if ready is not None:
                    waiter.reset()
                    return ready
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.core.timed_out(timeout)
            await waiter.wait(remaining)

    async def aclose(self) -> None:
        if self._waiter is not None:
            await self._waiter.close()
