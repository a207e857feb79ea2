"""The socket of a held connection, written and read by its holder instead of redis-py."""

from __future__ import annotations

import select
import socket as py_socket
from collections.abc import Iterator
from types import SimpleNamespace

import hiredis
import pytest
import redis
from redis.connection import Connection

from servicewire.transport.redis.held_socket import HeldSocket
from tests.support.services import running_redis
from tests.transport.redis.test_link import connected_link_to, held_socket


@pytest.fixture
def connection(redis_url: str) -> Iterator[Connection]:
    pool = redis.ConnectionPool.from_url(redis_url)
    connection = pool.get_connection()
    connection.connect()
    yield connection
    connection.disconnect()
    pool.disconnect()


def held(connection: Connection) -> HeldSocket:
    socket = HeldSocket.of(connection)
    assert socket is not None
    return socket


def command(*parts: object) -> bytes:
    return hiredis.pack_command(parts)  # type: ignore[arg-type]


def test_answers_of_commands_written_together_are_read_in_order(connection: Connection) -> None:
    socket = held(connection)
    socket.send(command("RPUSH", "queue", b"a", b"b") + command("LRANGE", "queue", 0, -1))
    assert socket.read(1.0) == 2
    assert socket.read() == [b"a", b"b"]


def test_an_answer_larger_than_one_receive_comes_whole(connection: Connection) -> None:
    socket = held(connection)
    value = bytes(range(256)) * 4096  # 1 MB, many receives
    socket.send(command("SET", "big", value) + command("GET", "big"))
    assert socket.read(5.0) in (b"OK", "OK")
    assert socket.read() == value


def test_an_error_answer_is_raised_and_the_connection_stays_usable(
    connection: Connection,
) -> None:
    socket = held(connection)
    socket.send(command("NOT-A-COMMAND") + command("PING"))
    with pytest.raises(redis.ResponseError, match="unknown command"):
        socket.read(1.0)
    assert socket.read() in (b"PONG", "PONG")


def test_a_notification_between_answers_is_passed_over(
    connection: Connection, redis_client: redis.Redis
) -> None:
    if str(connection.protocol) != "3":
        pytest.skip("notifications come only on RESP3 connections")  # pragma: no cover
    socket = held(connection)
    socket.send(command("CLIENT", "TRACKING", "ON") + command("GET", "watched"))
    assert socket.read(1.0) in (b"OK", "OK")
    assert socket.read() is None
    redis_client.set("watched", b"changed")  # Redis tells the connection: an invalidation
    socket.send(command("PING"))
    assert socket.read(1.0) in (b"PONG", "PONG")


def test_a_connection_the_server_closed_is_an_error_and_is_closed(
    connection: Connection, redis_client: redis.Redis
) -> None:
    socket = held(connection)
    socket.send(command("CLIENT", "ID"))
    redis_client.client_kill_filter(_id=socket.read(1.0))
    socket.send(command("PING"))
    with pytest.raises(redis.ConnectionError):
        socket.read(1.0)
    assert not socket.is_current()


def test_a_socket_is_stale_when_something_unexpected_is_there(
    connection: Connection,
) -> None:
    socket = held(connection)
    assert not socket.is_stale()
    socket.send(command("PING"))
    assert socket.read(1.0) in (b"PONG", "PONG")
    assert not socket.is_stale()
    socket.send(command("PING"))  # an answer nobody reads
    _wait_for_an_answer(socket)
    assert socket.is_stale()


def test_an_idle_link_whose_connection_the_server_closed_takes_a_fresh_one(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = connected_link_to(redis_url)
    first = held_socket(link)
    first.sendall(command("CLIENT", "ID"))
    assert link.held is not None
    redis_client.client_kill_filter(_id=link.held.read(1.0))
    link.last_answer = 0.0  # idle long enough to be checked before its next use
    link.push("queue", [b"y"], 60, hold=True)
    assert link.pop("queue", 1.0) == b"x"
    assert held_socket(link) is not first
    link.close()


def test_a_link_closed_with_an_answer_unread_closes_its_connection(redis_url: str) -> None:
    link = connected_link_to(redis_url)
    socket = link.held
    assert socket is not None
    socket.send(command("PING"))  # an answer nobody reads
    _wait_for_an_answer(socket)
    link.close()
    assert not socket.is_current()  # closed, not handed to the pool's next user


def _wait_for_an_answer(socket: HeldSocket) -> None:
    readable, _, _ = select.select([socket.socket], [], [], 5.0)
    assert readable


def test_tls_sockets_are_left_to_redis_py() -> None:
    class TlsConnection:
        _sock = object()

    assert HeldSocket.of(TlsConnection()) is None


def test_a_write_refused_by_a_demoted_sentinel_master_is_a_lost_connection() -> None:
    with running_redis() as master, running_redis() as replica:
        redis.Redis(port=replica.port).replicaof("127.0.0.1", master.port)
        pool = redis.ConnectionPool.from_url(replica.url)
        connection = pool.get_connection()
        # What a Sentinel's connections to the master it names carry.
        connection.connection_pool = SimpleNamespace(is_master=True)  # type: ignore[attr-defined]
        connection.connect()
        socket = held(connection)
        socket.send(command("RPUSH", "queue", b"x"))
        with pytest.raises(redis.ConnectionError, match="demoted"):
            socket.read(1.0)
        assert not socket.is_current()
        pool.disconnect()


def test_a_write_refused_by_a_replica_is_an_error_answer_elsewhere() -> None:
    with running_redis() as master, running_redis() as replica:
        redis.Redis(port=replica.port).replicaof("127.0.0.1", master.port)
        pool = redis.ConnectionPool.from_url(replica.url)
        connection = pool.get_connection()
        connection.connect()
        socket = held(connection)
        socket.send(command("RPUSH", "queue", b"x"))
        with pytest.raises(redis.ResponseError, match="READONLY"):
            socket.read(1.0)
        assert socket.is_current()
        pool.disconnect()


def test_a_garbled_stream_is_a_broken_connection_and_is_closed() -> None:
    class StandIn:
        """Stands in for the redis-py connection (only its disconnect is used)."""

        disconnected = False

        def disconnect(self) -> None:
            self.disconnected = True

    ours, redis_side = py_socket.socketpair()
    with ours, redis_side:
        connection = StandIn()
        socket = HeldSocket(connection, ours, 1.0)
        redis_side.sendall(b"!not RESP at all\r\n")
        with pytest.raises(redis.ConnectionError):
            socket.read(1.0)
        assert connection.disconnected
