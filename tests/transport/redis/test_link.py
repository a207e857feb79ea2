"""A thread's link to one Redis host: pushes held back to share a write with the next
command, and the socket's timeouts kept by the kernel while the link drives it."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
import redis

from servicewire.errors import ConnectionError as TransportConnectionError
from servicewire.transport.redis.backend import RedisBackend
from servicewire.transport.redis.link import QueueLink
from servicewire.transport.redis.settings import RedisTransportSettings
from tests.support.services import running_redis
from tests.transport.redis.support import layer


def link_to(url: str) -> QueueLink:
    settings = RedisTransportSettings.model_validate(layer(url))
    return QueueLink(RedisBackend(settings), 0)


def connected_link_to(url: str) -> QueueLink:
    """A link that has made one push, so that it holds a connection."""
    link = link_to(url)
    link.push("queue", [b"x"], 60)
    link.settle()
    return link


def held_socket(link: QueueLink) -> socket.socket:
    assert link.held is not None
    return link.held.socket


def test_a_held_push_goes_out_with_the_wait_for_its_reply(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = link_to(redis_url)
    link.push("held", [b"request"], 60, hold=True)
    assert redis_client.llen("held") == 0
    assert link.pop("held", 1.0) == b"request"
    assert link.refused == []
    assert link.pending == []
    link.close()


def test_a_held_push_goes_out_before_the_next_push(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = link_to(redis_url)
    link.push("queue", [b"first"], 60, hold=True)
    link.push("queue", [b"second"], 60)
    link.settle()
    assert redis_client.lrange("queue", 0, -1) == [b"first", b"second"]
    link.close()


def test_settling_writes_a_held_push(redis_url: str, redis_client: redis.Redis) -> None:
    link = link_to(redis_url)
    link.push("queue", [b"only"], 60, hold=True)
    link.settle()
    assert redis_client.lrange("queue", 0, -1) == [b"only"]
    link.close()


def test_a_large_push_is_never_held(redis_url: str, redis_client: redis.Redis) -> None:
    link = link_to(redis_url)
    link.push("queue", [b"x" * 100_000], 60, hold=True)
    assert link.unsent is None
    assert redis_client.llen("queue") == 1
    link.close()


def test_a_held_push_to_a_full_queue_is_refused_with_the_pop(
    redis_url: str, redis_client: redis.Redis
) -> None:
    settings = RedisTransportSettings.model_validate({**layer(redis_url), "queue_capacity": 1})
    link = QueueLink(RedisBackend(settings), 0)
    redis_client.rpush("full", b"already")
    link.push("full", [b"more"], 60, wake_key="mine", hold=True)
    # The refusal's marker on the sender's own queue wakes the wait at once.
    assert link.pop("mine", 5.0) == b"servicewire:queue-full"
    assert [push.queue_was_full for push in link.refused] == [True]
    link.close()


def test_the_socket_is_blocking_while_held_and_gets_its_timeout_back(redis_url: str) -> None:
    link = connected_link_to(redis_url)
    sock = held_socket(link)
    assert sock.gettimeout() is None
    connection = link.connection
    link.close()
    assert sock.gettimeout() == 10.0
    assert connection is not None
    # Back in the pool, the connection serves redis-py's own commands as before.
    client = redis.Redis(connection_pool=link.backend.pools[0])
    assert client.ping()


def test_the_receive_bound_is_set_only_when_a_wait_needs_another(redis_url: str) -> None:
    link = connected_link_to(redis_url)
    timeouts = link.held
    assert timeouts is not None
    assert timeouts.receive_bound == 10.0
    link.pop("empty", 0.01)  # needs about 2 s: much shorter than 10 s
    assert timeouts.receive_bound == pytest.approx(2.01, abs=0.01)
    link.pop("empty", 0.5)  # needs 2.5 s: longer than the bound
    assert timeouts.receive_bound == pytest.approx(2.5, abs=0.01)
    link.pop("empty", 0.01)  # a little shorter: kept
    assert timeouts.receive_bound == pytest.approx(2.5, abs=0.01)
    link.close()


def test_redis_falling_silent_is_a_lost_connection_within_the_bound() -> None:
    with running_redis() as server:
        link = connected_link_to(server.url)
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(TransportConnectionError, match=r"did not answer a 0\.100 s"):
                link.pop("queue-empty", 0.1)
            waited = time.monotonic() - started
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert waited < 10
        assert link.connection is None
        # The next use takes a fresh connection and works.
        link.push("queue", [b"y"], 60)
        assert link.pop("queue", 1.0) == b"x"
        link.close()


def test_a_connection_reconnected_by_redis_py_gets_its_bounds_again(redis_url: str) -> None:
    link = connected_link_to(redis_url)
    first = held_socket(link)
    connection = link.connection
    assert connection is not None
    connection.disconnect()
    link.last_answer = 0.0  # idle long enough to be checked before its next use
    link.push("queue", [b"y"], 60)
    link.settle()
    assert held_socket(link) is not first
    assert held_socket(link).gettimeout() is None
    link.close()


def test_a_held_push_on_a_dead_connection_is_reported_as_maybe_undelivered() -> None:
    with running_redis() as server:
        link = connected_link_to(server.url)
        link.push("held", [b"request"], 60, hold=True)
        server.stop()
        with pytest.raises(TransportConnectionError, match="1 push"):
            link.pop("held", 1.0)
        assert link.connection is None
        assert link.unsent is None
