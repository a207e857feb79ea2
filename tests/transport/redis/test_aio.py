"""AsyncRedisClientTransport, driven directly (the asyncio client builds on it)."""

from __future__ import annotations

import asyncio
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
from tests.transport.redis.support import layer


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
