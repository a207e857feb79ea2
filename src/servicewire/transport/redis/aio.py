"""The asyncio twin of the Redis client transport, on ``redis.asyncio``.

It speaks the same protocol through the same pure core (:mod:`.protocol`, :mod:`.codec`) and
takes the same settings as :class:`~servicewire.transport.redis.RedisClientTransport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import sys
import time
from collections import deque
from typing import Any, ClassVar, Protocol, cast

import hiredis
import redis
import redis.asyncio
import redis.asyncio.sentinel
from pydantic import BaseModel
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from servicewire.errors import (
    ConnectionError as TransportConnectionError,
)
from servicewire.errors import (
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
)
from servicewire.metrics import MetricsRecorder
from servicewire.transport.base import _NO_METRICS, AsyncClientTransport, ReceivedMessage
from servicewire.transport.redis.backend import (
    CONNECTION_ERRORS,
    PUSH_SCRIPT,
    BackendBase,
    connection_kwargs,
    is_queue_full,
    no_masters_error,
    popped_items,
    queue_full_error,
    retry_pauses,
    sentinel_hosts,
    sentinel_kwargs,
)
from servicewire.transport.redis.codec import ClientCodec, ReplyReader
from servicewire.transport.redis.protocol import (
    queue_key,
)
from servicewire.transport.redis.settings import (
    RedisClientTransportSettings,
    RedisTransportSettings,
)

__all__ = ["AsyncRedisBackend", "AsyncRedisClientTransport"]


if sys.version_info >= (3, 11):
    from asyncio import timeout as _within
else:  # pragma: no cover - the backport of asyncio.timeout (a dependency before 3.11)
    from async_timeout import timeout as _within  # type: ignore[import-not-found,no-redef,unused-ignore]


class AsyncConnection(Protocol):
    """The part of a redis.asyncio connection the transport uses."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None: ...
    async def read_response(self) -> Any: ...
    async def can_read(self) -> bool: ...
    async def disconnect(self) -> None: ...


# How much longer than a blocking pop's own timeout to wait for Redis to answer it.
_BLOCKING_READ_MARGIN = 2.0
# How long a push waits for Redis to acknowledge it before the connection counts as lost.
_ACKNOWLEDGEMENT_WAIT = 10.0
# A held connection idle this long is checked before its next use (the server may have
# closed it meanwhile).
_CHECK_IDLE_AFTER = 1.0
# The most replies one pop takes off the reply queue (bounding the size of one read).
_MOST_ITEMS_PER_POP = 100


class AsyncRedisBackend(BackendBase):
    """Connection pools to the Redis servers of one asyncio transport.

    Sentinel masters are discovered on first use (discovery needs the event loop).
    """

    def __init__(self, settings: RedisTransportSettings) -> None:
        super().__init__(settings)
        kwargs = connection_kwargs(self.layer, Retry(NoBackoff(), 0))
        # Blocking reads are bounded with asyncio timeouts instead (see pop()).
        kwargs.setdefault("socket_timeout", None)
        if "socket_timeout" not in self.layer.connection_kwargs:
            kwargs["socket_timeout"] = None
        self._clients: list[redis.asyncio.Redis] = []
        self.pools: list[ConnectionPool] = []
        self._sentinel: redis.asyncio.sentinel.Sentinel | None = None
        if self.is_sentinel:
            # Untyped in older redis-py releases, typed in newer ones.
            self._sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
                sentinel_hosts(self.layer),
                sentinel_kwargs=sentinel_kwargs(self.layer, Retry(NoBackoff(), 0)),
                **kwargs,
            )
            if self.layer.sentinel_services:
                self._use(self._sentinel_clients(self._sentinel, self.layer.sentinel_services))
        else:
            self._use(self._standard_clients(redis.asyncio.Redis, kwargs))

    def _use(self, clients: list[redis.asyncio.Redis]) -> None:
        self._clients = clients
        self.pools = [client.connection_pool for client in clients]
        self._hosts_ready(len(clients))

    async def ready(self) -> None:
        """Discover the Sentinel masters, if that is still to be done."""
        if self.pools or self._sentinel is None:
            return
        problems = []
        for connection in self._sentinel.sentinels:
            try:
                masters = await connection.sentinel_masters()
            except CONNECTION_ERRORS as error:
                problems.append(str(error))
                continue
            if masters:
                names = sorted(cast(dict[str, Any], masters))
                self._use(self._sentinel_clients(self._sentinel, names))
                return
            problems.append("it monitors no master")
        raise no_masters_error(problems)

    async def connection(self, host: int) -> AsyncConnection:
        """A connection from the host's pool (retrying a Sentinel master lookup during a
        failover, ``sentinel_failover_retries`` times)."""
        await self.ready()
        for pause in itertools.chain(retry_pauses(self.failover_retries, float("inf")), [None]):
            try:
                pool = self.pools[host]
                return cast(AsyncConnection, await pool.get_connection())  # type: ignore[no-untyped-call]
            except redis.asyncio.sentinel.MasterNotFoundError:
                if pause is None:
                    raise
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def release(self, host: int, connection: AsyncConnection) -> None:
        await self.pools[host].release(cast(Any, connection))

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
        for pool in self.pools:
            await pool.disconnect()


class _HeldConnection:
    """A connection taken from a host's pool and kept for one use (the pushes, or the reply
    queue's pops); one idle for long is checked before it is used again, and reconnected if
    the server closed it meanwhile (a restart, say)."""

    __slots__ = ("backend", "connection", "host", "last_used")

    def __init__(self, backend: AsyncRedisBackend, host: int) -> None:
        self.backend = backend
        self.host = host
        self.connection: AsyncConnection | None = None
        self.last_used = 0.0

    async def take(self) -> AsyncConnection:
        """The connection, ready for a command (call it with nothing in flight on it)."""
        connection = self.connection
        now = time.monotonic()
        if connection is None:
            connection = self.connection = await self.backend.connection(self.host)
        elif now - self.last_used > _CHECK_IDLE_AFTER:
            # Readable while nothing is expected: closed by the server, or out of step.
            try:
                stale = await connection.can_read()
            except CONNECTION_ERRORS:
                stale = True
            if stale:
                # Its next command connects it again.
                await connection.disconnect()
        self.last_used = now
        return connection

    async def drop(self) -> None:
        """Close the connection (after an error: what it still carries is lost)."""
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.disconnect()
            await self.backend.release(self.host, connection)

    async def give_back(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            await self.backend.release(self.host, connection)


class _PushLine:
    """The pushes of every task to one host, written on one held connection; a task of its
    own reads Redis's acknowledgements, in order, and hands each to the push it answers.

    A push costs its write and a wait for its own acknowledgement, without a connection
    taken from the pool and given back, and the acknowledgements of pushes written
    together are read together. When the connection fails, every push still waiting for its
    acknowledgement fails with it (it may or may not have been delivered).
    """

    __slots__ = ("held", "reader", "waiting", "writing")

    def __init__(self, held: _HeldConnection) -> None:
        self.held = held
        self.waiting: deque[asyncio.Future[None]] = deque()
        # Writes go out in the order their pushes joined ``waiting``.
        self.writing = asyncio.Lock()
        self.reader: asyncio.Task[None] | None = None

    async def push(self, packed: bytes) -> None:
        """Write a packed push and wait for its acknowledgement: raises
        ``redis.ResponseError`` if Redis refused it, and a connection error if the
        connection failed before the acknowledgement came."""
        loop = asyncio.get_running_loop()
        acknowledged: asyncio.Future[None] = loop.create_future()
        async with self.writing:
            connection = self.held.connection
            if connection is None or not self.waiting:
                # Nothing in flight: one idle for long is checked first.
                connection = await self.held.take()
            self.waiting.append(acknowledged)
            try:
                await connection.send_packed_command(packed, check_health=False)
            except BaseException as error:
                # Cancelled or failed mid-write: what reached Redis is unknown.
                await self._fail(connection, error)
                raise
            if self.reader is None:
                # In a context of its own, like the asyncio client's reply reader.
                self.reader = contextvars.Context().run(
                    loop.create_task, self._read_acknowledgements(connection)
                )
        await acknowledged

    async def _read_acknowledgements(self, connection: AsyncConnection) -> None:
        """Read the acknowledgements of the pushes written on ``connection`` while it is
        the line's: a reader of a connection dropped meanwhile leaves the line alone."""
        held = self.held
        try:
            while self.waiting and held.connection is connection:
                try:
                    async with _within(_ACKNOWLEDGEMENT_WAIT):
                        await connection.read_response()
                    refusal: BaseException | None = None
                except redis.ResponseError as error:
                    refusal = error
                except asyncio.TimeoutError:
                    raise redis.TimeoutError(
                        f"Redis did not acknowledge a push within {_ACKNOWLEDGEMENT_WAIT:.0f} s"
                    ) from None
                if held.connection is not connection:
                    return
                held.last_used = time.monotonic()
                acknowledged = self.waiting.popleft()
                if acknowledged.done():
                    continue  # its push was cancelled while it waited
                if refusal is None:
                    acknowledged.set_result(None)
                else:
                    acknowledged.set_exception(refusal)
        except BaseException as error:
            await self._fail(connection, error)
            if not isinstance(error, CONNECTION_ERRORS):
                raise
        finally:
            if self.reader is asyncio.current_task():
                self.reader = None

    async def _fail(self, connection: AsyncConnection, error: BaseException) -> None:
        """Fail every push still waiting on ``connection``, and drop it (unless the line
        dropped it already)."""
        if self.held.connection is not connection:
            return
        waiting, self.waiting = self.waiting, deque()
        self.reader = None
        lost = redis.ConnectionError(str(error) or f"the connection failed: {type(error).__name__}")
        for acknowledged in waiting:
            if not acknowledged.done():
                acknowledged.set_exception(lost)
        await self.held.drop()

    async def close(self) -> None:
        reader = self.reader
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self.held.give_back()


class AsyncRedisClientTransport(AsyncClientTransport):
    """Sends requests to a service's Redis queue and receives the replies, from asyncio.

    Takes the settings of :class:`~servicewire.transport.redis.RedisClientTransport`. Any task
    may send; the replies to all of them come to one reply queue per transport, read by one
    task at a time (the asyncio client's reader), which matches them to their requests by
    request id. Pushes to a host share one connection, and the reply queue has one of its
    own, from which every reply already there is taken in one blocking pop.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = RedisClientTransportSettings

    def __init__(
        self, service_name: str, metrics: MetricsRecorder = _NO_METRICS, **kwargs: Any
    ) -> None:
        super().__init__(service_name, metrics)
        self.codec = ClientCodec(service_name, metrics, kwargs, type(self))
        self.settings = self.codec.settings
        self.backend = AsyncRedisBackend(self.settings)
        self.reply_queue = self.codec.new_reply_queue()
        self.reply_key = queue_key(self.reply_queue)
        self._outstanding = 0
        self._push_lines: dict[int, _PushLine] = {}
        self._replies: _HeldConnection | None = None
        # Replies popped together, not read yet.
        self._early: deque[bytes] = deque()
        self._receiving = asyncio.Lock()

    @property
    def requests_outstanding(self) -> int:
        """How many replies the transport still expects."""
        return self._outstanding

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
        """Push a request onto the service's queue, naming this transport's reply queue (see
        :meth:`RedisClientTransport.send_request_message`)."""
        codec = self.codec
        frames, expiry, max_wait = codec.request_frames(
            request_id, meta, body, self.reply_queue, message_expiry_in_seconds
        )
        if expects_reply:
            # Counted first: the reply may be read before this send returns.
            self._outstanding += 1
        try:
            await self.backend.ready()
            await self._push(self.backend.request_host(), frames, expiry, max_wait)
        except BaseException:
            if expects_reply:
                self._outstanding -= 1
            codec.count("send.error")
            raise

    def _push_line(self, host: int) -> _PushLine:
        line = self._push_lines.get(host)
        if line is None:
            line = self._push_lines[host] = _PushLine(_HeldConnection(self.backend, host))
        return line

    async def _push(self, host: int, frames: list[bytes], expiry: int, max_wait: float) -> None:
        backend = self.backend
        key = self.codec.request_queue
        packed = hiredis.pack_command(
            cast(Any, ("EVAL", PUSH_SCRIPT, 1, key, expiry, backend.capacity, b"", *frames))
        )
        started = time.monotonic()
        pauses = retry_pauses(backend.queue_full_retries, max_wait)
        retried = False
        while True:
            try:
                await self._push_line(host).push(packed)
                return
            except redis.ResponseError as error:
                if not is_queue_full(error):
                    raise MessageSendError(
                        f"Redis at {backend.hosts[host]} refused the push to {key}: {error}"
                    ) from None
            except CONNECTION_ERRORS as error:
                raise self._lost(host, error) from None
            pause = next(pauses, None)
            if pause is None:
                raise queue_full_error(
                    key, backend.hosts[host], backend.capacity, time.monotonic() - started
                )
            if not retried:
                retried = True
                self.codec.count_queue_full_retry()
            await asyncio.sleep(pause)

    def _lost(self, host: int, error: BaseException) -> TransportConnectionError:
        self.codec.count("error.connection")
        return TransportConnectionError(
            f"Lost the connection to Redis at {self.backend.hosts[host]} for service "
            f"{self.service_name!r}: {error}"
        )

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """The next reply on this transport's reply queue (see
        :meth:`RedisClientTransport.receive_response_message`)."""
        if self._outstanding <= 0 and not self._early:
            return ReceivedMessage(None, None, None)
        timeout = receive_timeout_in_seconds or self.codec.receive_timeout
        deadline = time.monotonic() + timeout
        await self.backend.ready()
        replies = self._replies
        if replies is None:
            host = self.backend.reply_host(self.reply_key)
            replies = self._replies = _HeldConnection(self.backend, host)
        early = self._early
        async with self._receiving:
            try:
                while True:
                    if not early:
                        count = min(max(self._outstanding, 1), _MOST_ITEMS_PER_POP)
                        early.extend(await self._pop(replies, deadline, count))
                    if not early:
                        self.codec.count("receive.error.timeout")
                        raise MessageReceiveTimeout(
                            f"No reply from service {self.service_name!r} within {timeout:.3f} s"
                        )
                    message = await self._read_reply(replies, early.popleft(), deadline)
                    if message is not None:
                        self._outstanding -= 1
                        return message
            except CONNECTION_ERRORS as error:
                await replies.drop()
                raise self._lost(replies.host, error) from None
            except asyncio.CancelledError:
                # A pop may be outstanding: its answer must not reach the next receive.
                await replies.drop()
                raise

    async def _pop(self, replies: _HeldConnection, deadline: float, count: int) -> list[bytes]:
        """Up to ``count`` items of the reply queue: those there, or the first to come
        before ``deadline`` (none if none came)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return []
        backend = self.backend
        key = self.reply_key
        connection = await replies.take()
        while True:
            command = backend.pop_command(key, remaining, count)
            await connection.send_packed_command(
                hiredis.pack_command(cast(Any, command)), check_health=False
            )
            try:
                async with _within(remaining + _BLOCKING_READ_MARGIN):
                    answer = await connection.read_response()
            except asyncio.TimeoutError:
                raise redis.TimeoutError(
                    f"Redis did not answer a {remaining:.3f} s blocking pop in time"
                ) from None
            except redis.ResponseError as error:
                if backend.falls_back(error):
                    continue
                await replies.drop()
                raise MessageReceiveError(f"Redis refused to wait on {key}: {error}") from None
            replies.last_used = time.monotonic()
            return popped_items(answer)

    async def _read_reply(
        self, replies: _HeldConnection, data: bytes, deadline: float
    ) -> ReceivedMessage | None:
        reader = ReplyReader(self.codec, self.reply_key)
        message = reader.feed(data)
        early = self._early
        while reader.waiting:
            # The next chunks of a chunked reply: popped already, or still to come.
            if not early:
                early.extend(await self._pop(replies, deadline, 1))
            message = reader.feed(early.popleft() if early else None)
        return message

    async def aclose(self) -> None:
        lines, self._push_lines = self._push_lines, {}
        for line in lines.values():
            await line.close()
        replies, self._replies = self._replies, None
        if replies is not None:
            if self._receiving.locked():
                # A pop is outstanding on it: its answer must not reach another user.
                await replies.drop()
            else:
                await replies.give_back()
        await self.backend.close()
