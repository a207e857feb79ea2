"""The asyncio twin of the Redis client transport, on ``redis.asyncio``.

It speaks the same protocol through the same pure core (:mod:`.protocol`, :mod:`.codec`) and
takes the same settings as :class:`~servicewire.transport.redis.RedisClientTransport`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, ClassVar, Protocol, cast

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
    blpop_timeout,
    connection_kwargs,
    is_queue_full,
    no_masters_error,
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


class AsyncConnection(Protocol):
    """The part of a redis.asyncio connection the transport uses."""

    async def send_command(self, *args: Any, **kwargs: Any) -> None: ...
    async def read_response(self) -> Any: ...
    async def disconnect(self) -> None: ...


# How much longer than a BLPOP's own timeout to wait for Redis to answer it.
_BLOCKING_READ_MARGIN = 2.0


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
            self._sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
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


class AsyncRedisClientTransport(AsyncClientTransport):
    """Sends requests to a service's Redis queue and receives the replies, from asyncio.

    Takes the settings of :class:`~servicewire.transport.redis.RedisClientTransport`. Any task
    may send; the replies to all of them come to one reply queue per transport, read by one
    task at a time (the asyncio client's reader), which matches them to their requests by
    request id.
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

    async def _push(self, host: int, frames: list[bytes], expiry: int, max_wait: float) -> None:
        backend = self.backend
        key = self.codec.request_queue
        command = ("EVAL", PUSH_SCRIPT, 1, key, expiry, backend.capacity, b"", *frames)
        started = time.monotonic()
        pauses = retry_pauses(backend.queue_full_retries, max_wait)
        retried = False
        while True:
            connection = await self._connection(host)
            try:
                await connection.send_command(*command)
                await connection.read_response()
                return
            except redis.ResponseError as error:
                if not is_queue_full(error):
                    raise MessageSendError(
                        f"Redis at {backend.hosts[host]} refused the push to {key}: {error}"
                    ) from None
            except CONNECTION_ERRORS as error:
                await connection.disconnect()
                raise self._lost(host, error) from None
            finally:
                await backend.release(host, connection)
            pause = next(pauses, None)
            if pause is None:
                raise queue_full_error(
                    key, backend.hosts[host], backend.capacity, time.monotonic() - started
                )
            if not retried:
                retried = True
                self.codec.count_queue_full_retry()
            await asyncio.sleep(pause)

    async def _connection(self, host: int) -> AsyncConnection:
        try:
            return await self.backend.connection(host)
        except CONNECTION_ERRORS as error:
            raise self._lost(host, error) from None

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
        if self._outstanding <= 0:
            return ReceivedMessage(None, None, None)
        timeout = receive_timeout_in_seconds or self.codec.receive_timeout
        deadline = time.monotonic() + timeout
        await self.backend.ready()
        host = self.backend.reply_host(self.reply_key)
        connection = await self._connection(host)
        try:
            while True:
                data = await self._pop(connection, self.reply_key, deadline)
                if data is None:
                    self.codec.count("receive.error.timeout")
                    raise MessageReceiveTimeout(
                        f"No reply from service {self.service_name!r} within {timeout:.3f} s"
                    )
                message = await self._read_reply(connection, self.reply_key, data, deadline)
                if message is not None:
                    self._outstanding -= 1
                    return message
        except CONNECTION_ERRORS as error:
            await connection.disconnect()
            raise self._lost(host, error) from None
        finally:
            await self.backend.release(host, connection)

    async def _pop(self, connection: AsyncConnection, key: str, deadline: float) -> bytes | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        backend = self.backend
        await connection.send_command(
            "BLPOP", key, blpop_timeout(remaining, backend.whole_second_timeouts)
        )
        try:
            response = await asyncio.wait_for(
                connection.read_response(), remaining + _BLOCKING_READ_MARGIN
            )
        except asyncio.TimeoutError:
            raise redis.TimeoutError(
                f"Redis did not answer a {remaining:.3f} s BLPOP in time"
            ) from None
        except redis.ResponseError as error:
            if "timeout is not" not in str(error) or backend.whole_second_timeouts:
                await connection.disconnect()
                raise MessageReceiveError(f"Redis refused to wait on {key}: {error}") from None
            backend.whole_second_timeouts = True
            return await self._pop(connection, key, deadline)
        if response is None:
            return None
        return cast(bytes, response[1])

    async def _read_reply(
        self, connection: AsyncConnection, key: str, data: bytes, deadline: float
    ) -> ReceivedMessage | None:
        reader = ReplyReader(self.codec, key)
        message = reader.feed(data)
        while reader.waiting:
            message = reader.feed(await self._pop(connection, key, deadline))
        return message

    async def aclose(self) -> None:
        await self.backend.close()
