"""AsyncRedisClientTransport, driven directly (the asyncio client builds on it)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from servicewire import MessageReceiveTimeout, MessageSendError, MetricName
from servicewire.settings import import_path
from servicewire.transport.base import AsyncClientTransport
from servicewire.transport.redis import AsyncRedisClientTransport, RedisClientTransport
from tests.support.metrics import RecordingMetrics
from tests.support.waiting import wait_until
from tests.transport.redis.support import commands_run, layer


def job(action: str = "echo", body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c0ffee", "switches": []},
        "actions": [{"action": action, "body": body or {}}],
    }


def test_sync_transport_names_its_asyncio_twin() -> None:
    twin = import_path(RedisClientTransport.async_transport_class or "")
    assert twin is AsyncRedisClientTransport
    assert issubclass(twin, AsyncClientTransport)


def test_round_trip(echo_server: Callable[..., Any], redis_url: str) -> None:
    echo_server()

    async def main() -> Any:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            await transport.send_request_message(
                7, {"client_version": [1, 4, 9]}, job(body={"a": 1})
            )
            return await transport.receive_response_message(5)
        finally:
            await transport.aclose()

    request_id, meta, body = asyncio.run(main())
    assert request_id == 7
    assert meta is not None
    assert meta["client_version"] == [1, 4, 9]
    assert body is not None
    assert body["actions"][0]["body"] == {"a": 1}


def test_tasks_send_concurrently_and_one_reader_receives_every_reply(
    echo_server: Callable[..., Any], redis_url: str
) -> None:
    echo_server()
    echo_server()

    async def main() -> tuple[dict[int, Any], int, Any]:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            await asyncio.gather(
                *(transport.send_request_message(n, {}, job(body={"n": n})) for n in range(1, 41))
            )
            replies: dict[int, Any] = {}
            while len(replies) < 40:
                received = await transport.receive_response_message(5)
                assert received.request_id is not None
                assert received.body is not None
                replies[received.request_id] = received.body["actions"][0]["body"]["n"]
            return (
                replies,
                transport.requests_outstanding,
                await transport.receive_response_message(1),
            )
        finally:
            await transport.aclose()

    replies, outstanding, after = asyncio.run(main())
    assert replies == {n: n for n in range(1, 41)}
    assert outstanding == 0
    assert after == (None, None, None)


def test_no_reply_raises_message_receive_timeout_in_time(redis_url: str) -> None:
    async def main() -> None:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            await transport.send_request_message(1, {}, job())
            await transport.receive_response_message(0.3)
        finally:
            await transport.aclose()

    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        asyncio.run(main())
    assert time.monotonic() - started < 2


def test_nothing_outstanding_gives_an_empty_message(redis_url: str) -> None:
    async def main() -> Any:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            return await transport.receive_response_message(1)
        finally:
            await transport.aclose()

    assert asyncio.run(main()) == (None, None, None)


def test_full_queue_fails_within_the_bound_naming_queue_and_capacity(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.rpush("pysoa:service.echo", b"waiting")
    metrics = RecordingMetrics()

    async def main() -> None:
        # Time for one retry: the first pause is at most 0.5 s, the second at least 0.5 s.
        transport = AsyncRedisClientTransport(
            "echo",
            metrics,
            **layer(redis_url, queue_capacity=1, queue_full_timeout_in_seconds=0.6),
        )
        try:
            await transport.send_request_message(1, {}, job())
        finally:
            await transport.aclose()

    started = time.monotonic()
    with pytest.raises(MessageSendError, match=r"pysoa:service\.echo .*capacity 1 messages"):
        asyncio.run(main())
    assert time.monotonic() - started < 2
    assert metrics.recorded("counter", MetricName.TRANSPORT_QUEUE_FULL_RETRY) == [
        (1, {"service": "echo"})
    ]


def test_chunked_reply_arrives_whole(echo_server: Callable[..., Any], redis_url: str) -> None:
    echo_server(chunk_messages_larger_than_bytes=102400, maximum_message_size_in_bytes=1024000)

    async def main() -> Any:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            await transport.send_request_message(3, {}, job("big", {"size": 300000, "tag": "<>"}))
            return await transport.receive_response_message(5)
        finally:
            await transport.aclose()

    body = asyncio.run(main()).body
    assert body is not None
    data = body["actions"][0]["body"]["data"]
    assert data.startswith("<>")
    assert len(data) == 300000


def test_pushes_share_one_connection_and_replies_come_in_one_pop(
    echo_server: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    echo_server()
    transport = AsyncRedisClientTransport("echo", **layer(redis_url))
    reply_key = transport.reply_key

    async def main() -> dict[int, Any]:
        try:
            before = len(redis_client.client_list())
            await asyncio.gather(
                *(transport.send_request_message(n, {}, job(body={"n": n})) for n in range(30))
            )
            # Thirty pushes at once, over one connection of the transport's own.
            assert len(redis_client.client_list()) == before + 1
            await asyncio.to_thread(
                wait_until, lambda: redis_client.llen(reply_key) == 30, "every reply"
            )
            redis_client.config_resetstat()
            replies = {}
            for _ in range(30):
                received = await transport.receive_response_message(5)
                assert received.request_id is not None
                replies[received.request_id] = received.body
            return replies
        finally:
            await transport.aclose()

    replies = asyncio.run(main())
    assert sorted(replies) == list(range(30))
    # All thirty replies, already there, taken in one blocking pop.
    assert commands_run(redis_client, "blmpop") == 1
    assert commands_run(redis_client, "blpop") == 0


def test_each_concurrent_push_learns_its_own_refusal(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.rpush("pysoa:service.echo", b"waiting", b"waiting")

    async def main() -> list[BaseException | None]:
        transport = AsyncRedisClientTransport(
            "echo", **layer(redis_url, queue_capacity=3, queue_full_timeout_in_seconds=0.1)
        )
        try:
            return await asyncio.gather(
                *(transport.send_request_message(n, {}, job()) for n in range(3)),
                return_exceptions=True,
            )
        finally:
            await transport.aclose()

    outcomes = asyncio.run(main())
    assert outcomes[0] is None  # the first written fills the queue
    assert all(isinstance(outcome, MessageSendError) for outcome in outcomes[1:])
    assert redis_client.llen("pysoa:service.echo") == 3


def test_a_cancelled_send_leaves_the_others_their_acknowledgements(
    echo_server: Callable[..., Any], redis_url: str
) -> None:
    echo_server()

    async def main() -> set[int]:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            sends = [
                asyncio.ensure_future(transport.send_request_message(n, {}, job()))
                for n in range(10)
            ]
            await asyncio.sleep(0)  # every send has started; cancel one waiting for its ack
            sends[3].cancel()
            outcomes = await asyncio.gather(*sends, return_exceptions=True)
            assert isinstance(outcomes[3], asyncio.CancelledError)
            assert all(outcome is None for n, outcome in enumerate(outcomes) if n != 3)
            # A cancelled send may have been delivered: its reply, if it comes, is read too.
            received = set()
            for _ in range(9):
                message = await transport.receive_response_message(5)
                assert message.request_id is not None
                received.add(message.request_id)
            await transport.send_request_message(99, {}, job())
            while 99 not in received:
                message = await transport.receive_response_message(5)
                assert message.request_id is not None
                received.add(message.request_id)
            return received
        finally:
            await transport.aclose()

    received = asyncio.run(main())
    assert set(range(10)) - {3} <= received
    assert 99 in received


def test_a_connection_closed_by_the_server_fails_its_calls_and_the_next_ones_work(
    echo_server: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    echo_server()

    async def main() -> Any:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            await transport.send_request_message(1, {}, job())
            assert (await transport.receive_response_message(5)).request_id == 1
            # The server closes every connection of normal clients (a restart, say), and
            # the transport's connections are idle for long before their next use.
            redis_client.client_kill_filter(_type="normal", skipme=True)
            helds = [line.held for line in transport._push_lines.values()]
            helds.append(transport._replies)
            for held in helds:
                assert held is not None
                held.last_used = 0.0
                connection = held.connection
                assert connection is not None
                await wait_until_async(
                    functools.partial(close_seen, connection), "the close to be seen"
                )
            await transport.send_request_message(2, {}, job())
            return (await transport.receive_response_message(5)).request_id
        finally:
            await transport.aclose()

    assert asyncio.run(main()) == 2


async def close_seen(connection: Any) -> bool:
    """Whether the connection shows it was closed: readable, or (newer redis-py) raising
    because its stream has ended."""
    try:
        return bool(await connection.can_read())
    except redis.ConnectionError:
        return True


async def wait_until_async(condition: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + 5
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_push_on_a_connection_that_dies_in_flight_is_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import signal

    from servicewire import ConnectionError as TransportConnectionError
    from servicewire.transport.redis import aio
    from tests.support.services import running_redis

    monkeypatch.setattr(aio, "_ACKNOWLEDGEMENT_WAIT", 0.3)
    with running_redis() as server:
        assert server.process is not None

        async def main() -> Any:
            transport = AsyncRedisClientTransport("echo", **layer(server.url))
            try:
                await transport.send_request_message(1, {}, job())
                os.kill(server.process.pid, signal.SIGSTOP)  # Redis falls silent
                try:
                    with pytest.raises(TransportConnectionError, match="did not acknowledge"):
                        await transport.send_request_message(2, {}, job())
                finally:
                    os.kill(server.process.pid, signal.SIGCONT)
                # The next push takes a fresh connection.
                await transport.send_request_message(3, {}, job())
                return transport.requests_outstanding
            finally:
                await transport.aclose()

        assert asyncio.run(main()) == 2


def test_a_receive_cancelled_while_it_waits_leaves_no_pop_behind(
    echo_server: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    async def main() -> Any:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            await transport.send_request_message(1, {}, job())  # no server yet: no reply
            waiting = asyncio.ensure_future(transport.receive_response_message(30))

            async def pop_waits() -> bool:
                return any(
                    entry["cmd"] in ("blpop", "blmpop") for entry in redis_client.client_list()
                )

            await wait_until_async(pop_waits, "the pop to be waiting")
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            echo_server()
            return await transport.receive_response_message(5)
        finally:
            await transport.aclose()

    assert asyncio.run(main()).request_id == 1


def test_with_two_hosts_pushes_alternate_and_replies_come_from_the_reply_host(
    redis_url: str,
) -> None:
    from tests.support.services import running_redis
    from tests.transport.redis.services import EchoServer
    from tests.transport.redis.support import serving

    with running_redis() as second:
        hosts = {"backend_layer_kwargs": {"hosts": [redis_url, second.url]}}
        with serving(EchoServer, hosts):

            async def main() -> tuple[set[int], int]:
                transport = AsyncRedisClientTransport("echo", **hosts)
                try:
                    await asyncio.gather(
                        *(transport.send_request_message(n, {}, job()) for n in range(10))
                    )
                    received = set()
                    for _ in range(10):
                        message = await transport.receive_response_message(5)
                        assert message.request_id is not None
                        received.add(message.request_id)
                    return received, len(transport._push_lines)
                finally:
                    await transport.aclose()

            received, lines = asyncio.run(main())
    assert received == set(range(10))
    assert lines == 2  # a held connection for the pushes to each host


def test_a_malformed_reply_is_an_invalid_message_and_the_next_reply_is_read(
    redis_url: str, redis_client: redis.Redis
) -> None:
    import msgpack

    from servicewire import InvalidMessageError
    from servicewire.transport.redis.protocol import ProtocolVersion, build_frame

    async def main() -> Any:
        transport = AsyncRedisClientTransport("echo", **layer(redis_url))
        try:
            await transport.send_request_message(1, {}, job())
            await transport.send_request_message(2, {}, job())
            reply = {"request_id": 2, "meta": {}, "body": {"actions": [], "errors": []}}
            redis_client.rpush(
                "pysoa:" + transport.reply_queue,
                b"\xc1 not a message",
                build_frame(msgpack.packb(reply), ProtocolVersion.VERSION_3, "application/msgpack"),
            )
            with pytest.raises(InvalidMessageError, match="Unreadable reply"):
                await transport.receive_response_message(5)
            return await transport.receive_response_message(5)
        finally:
            await transport.aclose()

    assert asyncio.run(main()).request_id == 2
