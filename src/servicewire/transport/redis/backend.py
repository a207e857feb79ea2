"""The connection layer of the synchronous Redis transports, on redis-py.

A :class:`RedisBackend` holds one connection pool per Redis server (standard) or per master
(Sentinel), and chooses the server of each queue: request queues round-robin, reply queues by
consistent hash, as PySOA does. The queue operations themselves run on
:class:`~servicewire.transport.redis.link.QueueLink` objects, one per thread and host.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.sentinel
from redis.backoff import NoBackoff
from redis.connection import ConnectionPool
from redis.retry import Retry

from servicewire.errors import ConnectionError as TransportConnectionError
from servicewire.errors import MessageSendError
from servicewire.transport.redis.protocol import reply_host_index
from servicewire.transport.redis.settings import (
    BACKEND_TYPE_SENTINEL,
    BackendLayerSettings,
    RedisTransportSettings,
    is_redis_url,
)

__all__ = [
    "BLOCKING_READ_MARGIN",
    "CONNECTION_ERRORS",
    "PUSH_SCRIPT",
    "QUEUE_FULL_MARKER",
    "BackendBase",
    "RedisBackend",
    "SyncConnection",
    "blpop_timeout",
    "connection_kwargs",
    "describe_host",
    "is_queue_full",
    "popped_items",
    "queue_full_backoff",
    "queue_full_error",
    "retry_pauses",
    "sentinel_hosts",
]


class SyncConnection(Protocol):
    """The part of a redis-py connection the transports use."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None: ...
    def send_command(self, *args: Any, **kwargs: Any) -> None: ...
    def read_response(self, *, timeout: float = ...) -> Any: ...
    def can_read(self, timeout: float = 0) -> bool: ...
    def disconnect(self) -> None: ...


PUSH_SCRIPT = b"""
local queue = KEYS[1]
if redis.call('llen', queue) >= tonumber(ARGV[2]) then
    if KEYS[2] then
        redis.call('rpush', KEYS[2], ARGV[3])
        redis.call('expire', KEYS[2], ARGV[1])
    end
    return redis.error_reply('queue full')
end
for index = 4, #ARGV do
    redis.call('rpush', queue, ARGV[index])
end
redis.call('expire', queue, ARGV[1])
return 0
"""
"""Push the frames ``ARGV[4:]`` onto ``KEYS[1]`` at once, unless it holds ``ARGV[2]`` items
(the error ``queue full``), and set its expiry to ``ARGV[1]`` seconds.

All frames of a chunked response go in one call, so chunks of two responses can never
interleave on a reply queue. When the queue is full and ``KEYS[2]`` is given, the marker
``ARGV[3]`` is pushed there instead, to wake the sender's own blocked pop."""

QUEUE_FULL_MARKER = b"servicewire:queue-full"
"""What a failed push leaves on the sender's reply queue (never a valid frame)."""

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)

BLOCKING_READ_MARGIN = 2.0
"""How much longer than a blocking command's own timeout to wait for Redis to answer it."""
_SENTINEL_DEFAULT_PORT = 26379
_STANDARD_DEFAULT_PORT = 6379
_TCP_ONLY_KWARGS = ("socket_keepalive", "socket_keepalive_options", "socket_connect_timeout")


def connection_kwargs(layer: BackendLayerSettings, retry: Any) -> dict[str, Any]:
    """The keyword arguments of every Redis connection: the user's, then PySOA's defaults
    (5 s to connect, keep-alive), no retries inside redis-py (the transport decides), and
    ``redis_db`` as ``db``."""
    kwargs = dict(layer.connection_kwargs)
    if layer.redis_db is not None:
        kwargs["db"] = layer.redis_db
    kwargs.setdefault("socket_connect_timeout", 5.0)
    kwargs.setdefault("socket_timeout", 10.0)
    kwargs.setdefault("socket_keepalive", True)
    kwargs.setdefault("retry", retry)
    return kwargs


def sentinel_kwargs(layer: BackendLayerSettings, retry: Any) -> dict[str, Any]:
    """The keyword arguments of connections to the Sentinels themselves."""
    kwargs = dict(layer.sentinel_kwargs)
    kwargs.setdefault("socket_connect_timeout", 5.0)
    kwargs.setdefault("socket_timeout", 5.0)
    kwargs.setdefault("socket_keepalive", True)
    kwargs.setdefault("retry", retry)
    return kwargs


def unix_kwargs(kwargs: dict[str, Any], layer: BackendLayerSettings) -> dict[str, Any]:
    """Drop the TCP options added by default (a Unix socket connection rejects them)."""
    given = layer.connection_kwargs
    return {k: v for k, v in kwargs.items() if k not in _TCP_ONLY_KWARGS or k in given}


def sentinel_hosts(layer: BackendLayerSettings) -> list[tuple[str, int]]:
    """The Sentinels' addresses (``localhost:26379`` when none are given)."""
    port = layer.redis_port or _SENTINEL_DEFAULT_PORT
    if not layer.hosts:
        return [("localhost", port)]
    return [(host, port) if isinstance(host, str) else host for host in layer.hosts]


def describe_host(host: tuple[str, int] | str, default_port: int) -> str:
    """A host for log lines and errors, without any password a URL carries."""
    if isinstance(host, tuple):
        return f"{host[0]}:{host[1]}"
    if not is_redis_url(host):
        return f"{host}:{default_port}"
    parts = urlsplit(host)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def blpop_timeout(seconds: float, whole_seconds: bool) -> bytes:
    """The timeout argument of BLPOP: never 0 (which blocks forever); whole seconds for Redis
    servers older than 6.0, which reject fractions."""
    if whole_seconds:
        return b"%d" % max(1, int(seconds + 0.999))
    return b"%.3f" % max(seconds, 0.001)


def queue_full_backoff(attempt: int) -> float:
    """The pause before retry ``attempt`` (0-based) of a push to a full queue (PySOA's)."""
    return float((2**attempt + random.random()) / 4.0)


def retry_pauses(retries: int, limit: float) -> Iterator[float]:
    """The pauses before the retries of a push to a full queue: PySOA's back-off, at most
    ``retries`` of them, and none that would end more than ``limit`` seconds from now."""
    deadline = time.monotonic() + limit
    for attempt in range(retries):
        pause = queue_full_backoff(attempt)
        if time.monotonic() + pause > deadline:
            return
        yield pause


def queue_full_error(key: str, where: str, capacity: int, waited: float) -> MessageSendError:
    return MessageSendError(
        f"Queue {key} on {where} is full (capacity {capacity} messages); gave up after "
        f"{waited:.1f} s"
    )


class BackendBase:
    """What the synchronous and asyncio backends share: the settings, the hosts, and the
    choice of a host for each queue."""

    def __init__(self, settings: RedisTransportSettings) -> None:
        layer = settings.backend_layer_kwargs
        self.layer = layer
        self.is_sentinel = settings.backend_type == BACKEND_TYPE_SENTINEL
        self.capacity = settings.queue_capacity
        self.queue_full_retries = settings.queue_full_retries
        self.queue_full_timeout = float(settings.queue_full_timeout_in_seconds)
        self.failover_retries = layer.sentinel_failover_retries
        # Redis < 6.0 rejects fractional BLPOP timeouts; set on the first refusal.
        self.whole_second_timeouts = False
        # Redis < 7.0 has no BLMPOP (several items in one blocking pop); unset on its first
        # refusal.
        self.several_per_pop = True
        self.hosts: list[str] = []
        self.host_count = 0
        self._request_hosts: Iterator[int] = iter(())

    def _standard_clients(self, redis_class: Any, kwargs: dict[str, Any]) -> list[Any]:
        """One client (with its pool) per host of a standard backend."""
        layer = self.layer
        port = layer.redis_port or _STANDARD_DEFAULT_PORT
        clients = []
        for host in layer.hosts or [("localhost", port)]:
            if isinstance(host, str) and is_redis_url(host):
                url_kwargs = unix_kwargs(kwargs, layer) if host.startswith("unix:") else kwargs
                clients.append(redis_class.from_url(host, **url_kwargs))
            else:
                address = (host, port) if isinstance(host, str) else host
                clients.append(redis_class(host=address[0], port=address[1], **kwargs))
            self.hosts.append(describe_host(host, port))
        return clients

    def _sentinel_clients(self, sentinel: Any, services: Sequence[str]) -> list[Any]:
        """One client per Sentinel master."""
        self.hosts.extend(f"Sentinel master {service}" for service in services)
        return [sentinel.master_for(service) for service in services]

    def _hosts_ready(self, count: int) -> None:
        self.host_count = count
        self._request_hosts = itertools.cycle(random.sample(range(count), k=count))

    def request_host(self) -> int:
        """The host of the next request push (round-robin over a shuffled order)."""
        return next(self._request_hosts) if self.host_count > 1 else 0

    def reply_host(self, key: str) -> int:
        """The host of a reply queue (consistent hash)."""
        return reply_host_index(key, self.host_count) if self.host_count > 1 else 0

    def pop_command(
        self, key: str, timeout: float, count: int = 1, first: str | None = None
    ) -> tuple[object, ...]:
        """The command that pops up to ``count`` items of ``key``, waiting up to ``timeout``
        seconds for the first (one item only from a Redis older than 7.0); with ``first``,
        of that key instead while it has any."""
        keys = (key,) if first is None else (first, key)
        if count > 1 and self.several_per_pop:
            wait = b"%.3f" % max(timeout, 0.001)
            return ("BLMPOP", wait, len(keys), *keys, "LEFT", "COUNT", count)
        return ("BLPOP", *keys, blpop_timeout(timeout, self.whole_second_timeouts))

    def falls_back(self, error: redis.ResponseError) -> bool:
        """Whether Redis refused a pop for being older than the command (the next
        :meth:`pop_command` is then one it accepts)."""
        text = str(error)
        if self.several_per_pop and "unknown command" in text and "BLMPOP" in text.upper():
            self.several_per_pop = False
            return True
        if "timeout is not" in text and not self.whole_second_timeouts:
            self.whole_second_timeouts = True
            return True
        return False


def popped_items(answer: Any) -> list[bytes]:
    """The items in Redis's answer to a :meth:`BackendBase.pop_command` (none if it timed
    out)."""
    if answer is None:
        return []
    items = answer[1]
    return cast(list[bytes], items) if isinstance(items, list) else [cast(bytes, items)]


def no_masters_error(problems: list[str]) -> TransportConnectionError:
    return TransportConnectionError(
        "No Sentinel could list the masters to use: " + "; ".join(problems or ["no Sentinel"])
    )


class RedisBackend(BackendBase):
    """Connection pools to the Redis servers of one synchronous transport."""

    def __init__(self, settings: RedisTransportSettings) -> None:
        super().__init__(settings)
        layer = self.layer
        kwargs = connection_kwargs(layer, Retry(NoBackoff(), 0))
        if self.is_sentinel:
            # Untyped in older redis-py releases, typed in newer ones.
            sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
                sentinel_hosts(layer),
                sentinel_kwargs=sentinel_kwargs(layer, Retry(NoBackoff(), 0)),
                **kwargs,
            )
            services = layer.sentinel_services or self._discover_services(sentinel)
            self._clients: list[redis.Redis] = self._sentinel_clients(sentinel, services)
        else:
            self._clients = self._standard_clients(redis.Redis, kwargs)
        self.pools: list[ConnectionPool] = [client.connection_pool for client in self._clients]
        self._hosts_ready(len(self.pools))

    @staticmethod
    def _discover_services(sentinel: redis.sentinel.Sentinel) -> list[str]:
        problems = []
        for connection in sentinel.sentinels:
            try:
                masters = connection.sentinel_masters()
            except CONNECTION_ERRORS as error:
                problems.append(str(error))
                continue
            if masters:
                return sorted(cast(dict[str, Any], masters))
            problems.append("it monitors no master")
        raise no_masters_error(problems)

    # --- connections ----------------------------------------------------------------------

    def connection(self, host: int) -> SyncConnection:
        """A connection from the host's pool; retries a Sentinel master lookup during a
        failover (``sentinel_failover_retries`` times, with back-off)."""
        pool = self.pools[host]
        attempt = 0
        while True:
            try:
                return cast(SyncConnection, pool.get_connection())
            except redis.sentinel.MasterNotFoundError:
                if attempt >= self.failover_retries:
                    raise
                time.sleep(queue_full_backoff(attempt))
                attempt += 1

    def client(self, host: int) -> redis.Redis:
        """The redis-py client of a host (for work off the hot path: heartbeats, reaping)."""
        return self._clients[host]

    def release(self, host: int, connection: SyncConnection) -> None:
        self.pools[host].release(cast(Any, connection))

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for pool in self.pools:
            pool.disconnect()

    # --- queue operations -----------------------------------------------------------------

    def read_pop(
        self,
        connection: SyncConnection,
        read: Callable[[float], Any],
        key: str,
        timeout: float,
        count: int = 1,
        first: str | None = None,
    ) -> Any:
        """Read, with ``read(limit)``, the answer to ``pop_command(key, timeout, count,
        first)`` sent on ``connection``: the key popped and the items
        (:func:`popped_items`), or ``None`` when the timeout passed.

        Waits at most a little longer than ``timeout`` for Redis to answer; a server that
        stays silent raises ``redis.TimeoutError`` (and the connection is closed).
        """
        limit = timeout + BLOCKING_READ_MARGIN
        while True:
            try:
                # One wait on the socket (redis-py's can_read would add a liveness probe
                # of two more system calls to each pop).
                response = read(limit)
            except redis.TimeoutError:
                raise redis.TimeoutError(
                    f"Redis did not answer a {timeout:.3f} s blocking pop within {limit:.3f} s"
                ) from None
            except redis.ResponseError as error:
                if not self.falls_back(error):
                    raise
                connection.send_command(*self.pop_command(key, timeout, count, first))
                continue
            return response


def is_queue_full(error: redis.ResponseError) -> bool:
    return str(error).startswith("queue full")
