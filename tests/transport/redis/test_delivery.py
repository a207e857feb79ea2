"""At-least-once delivery over Redis against a real redis-server: processing lists,
heartbeats, the reaper, attempts and dead letters, with clients that push as PySOA's do."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import redis

from servicewire.transport.redis import RedisServerTransport
from servicewire.transport.redis.dead_letters import DeadLetters
from servicewire.transport.redis.delivery import message_digest
from servicewire.transport.redis.protocol import reply_host_index
from tests.support.metrics import RECORDING_METRICS, metrics_of
from tests.support.services import running_redis
from tests.support.waiting import wait_until
from tests.transport.redis.services import EchoServer
from tests.transport.redis.support import commands_run, layer, serving
from tests.transport.redis.test_server import (
    REPLY_TO,
    REQUEST_QUEUE,
    decode,
    framed,
    job,
    pop_reply,
    push_request,
)

AT_LEAST_ONCE = {"delivery_guarantee": "at_least_once", "heartbeat_timeout_in_seconds": 0.6}
BASE = "servicewire:service.echo"


@pytest.fixture
def server(redis_url: str) -> Iterator[Callable[..., EchoServer]]:
    with ExitStack() as stack:

        def start(**transport_kwargs: Any) -> EchoServer:
            kwargs = layer(redis_url, **{**AT_LEAST_ONCE, **transport_kwargs})
            return stack.enter_context(  # type: ignore[no-any-return]
                serving(EchoServer, kwargs, metrics=RECORDING_METRICS)
            )

        yield start


def request_bytes(request_id: int, **meta: Any) -> bytes:
    return framed(
        {
            "request_id": request_id,
            "meta": {"client_version": [1, 4, 9], "reply_to": REPLY_TO, **meta},
            "body": job(),
        }
    )


def strand(client: redis.Redis, server_id: str, *items: bytes) -> None:
    """Leave ``items`` in the processing list of a server that died (no heartbeat)."""
    client.sadd(f"{BASE}:servers", server_id)
    if items:
        client.rpush(f"{BASE}:processing:{server_id}", *items)


def test_a_request_is_answered_and_leaves_only_the_servers_own_keys(
    server: Callable[..., EchoServer], redis_client: redis.Redis
) -> None:
    server()
    push_request(redis_client, 1)
    assert decode(pop_reply(redis_client))["request_id"] == 1

    [server_id] = [member.decode() for member in redis_client.smembers(f"{BASE}:servers")]
    wait_until(
        lambda: redis_client.llen(f"{BASE}:processing:{server_id}") == 0,
        "the request to leave the processing list",
    )
    assert redis_client.get(f"{BASE}:heartbeat:{server_id}") == server_id.encode()
    assert 0 < redis_client.pttl(f"{BASE}:heartbeat:{server_id}") <= 600
    assert redis_client.get(f"{BASE}:reaper") == server_id.encode()


def test_requests_of_a_dead_server_are_delivered_again_and_counted(
    server: Callable[..., EchoServer],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    strand(redis_client, "ghost", request_bytes(2), request_bytes(3))
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.redis"):
        metrics = metrics_of(server())
        replies = {decode(pop_reply(redis_client))["request_id"] for _ in range(2)}
    assert replies == {2, 3}
    assert "Server ghost of service 'echo' stopped heartbeating" in caplog.text
    assert metrics.counts["server.transport.redis.delivery.redelivered"] == 2
    assert not redis_client.sismember(f"{BASE}:servers", "ghost")
    assert not redis_client.exists(f"{BASE}:processing:ghost")
    wait_until(lambda: not redis_client.exists(f"{BASE}:attempts"), "the attempts to be forgotten")


def test_the_attempt_is_told_to_observers_and_kept_until_finished(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    data = request_bytes(4)
    client.hset(f"{BASE}:attempts", message_digest(data), 2)
    client.rpush(REQUEST_QUEUE, data)
    transport = RedisServerTransport("echo", **layer(redis_url, **AT_LEAST_ONCE))
    assert_id, meta, _ = transport.receive_request_message()
    assert (assert_id, meta is not None) == (4, True)

    details = transport.message_details(4, meta)

    assert details.delivery_attempt == 3
    assert details.extra["processing_list"].startswith(f"{BASE}:processing:")
    assert client.lrange(details.extra["processing_list"], 0, -1) == [data]
    transport.complete_request_message(4, meta)
    transport.close()
    assert client.keys(f"{BASE}:processing:*") == []
    assert not client.exists(f"{BASE}:attempts")


def test_a_request_whose_servers_keep_dying_becomes_a_dead_letter_and_can_be_requeued(
    server: Callable[..., EchoServer], redis_client: redis.Redis, redis_url: str
) -> None:
    data = request_bytes(5)
    redis_client.hset(f"{BASE}:attempts", message_digest(data), 2)
    strand(redis_client, "ghost", data)
    metrics = metrics_of(server(max_attempts=3))
    dead_letters = DeadLetters(redis_url)
    [letter] = wait_until(dead_letters.list, "the dead letter")

    assert letter.service == "echo"
    assert letter.consumer is None
    assert letter.request_id == 5
    assert letter.reply_to == REPLY_TO
    assert letter.attempts == 3
    assert "server ghost stopped while handling it" in letter.last_error
    assert letter.payload == data
    assert letter.message()[0]["reply_to"] == REPLY_TO
    assert dead_letters.get(letter.id) == letter
    assert metrics.counts["server.transport.redis.delivery.dead_lettered"] == 1
    assert redis_client.llen("pysoa:" + REPLY_TO) == 0  # never run a third time

    assert dead_letters.requeue([letter]) == 1
    reply = decode(pop_reply(redis_client))
    assert reply["request_id"] == 5
    assert reply["body"]["actions"][0]["body"] == {"n": 1}
    assert dead_letters.list() == []
    dead_letters.close()


def test_dead_letters_can_be_discarded_and_purged(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    transport = RedisServerTransport("echo", **layer(redis_url, **AT_LEAST_ONCE))
    for garbage in (b"\xc1 one", b"\xc1 two"):
        client.rpush(REQUEST_QUEUE, garbage)
        with pytest.raises(Exception, match="Undecodable"):
            transport.receive_request_message()
    transport.close()
    dead_letters = DeadLetters(redis_url)
    first, second = dead_letters.list()
    assert (first.request_id, first.reply_to, first.attempts) == (None, None, 1)
    assert "Undecodable" in first.last_error
    assert second.payload == b"\xc1 two"

    assert dead_letters.discard([first.id]) == 1
    assert dead_letters.purge(older_than_in_seconds=3600) == 0
    assert dead_letters.purge(older_than_in_seconds=-1) == 1
    assert dead_letters.list() == []
    assert dead_letters.list(consumer="audit") == []
    dead_letters.close()


def test_an_expired_request_is_dropped_on_redelivery(
    server: Callable[..., EchoServer],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    strand(redis_client, "ghost", request_bytes(6, __expiry__=time.time() - 1))
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.redis"):
        server()
        push_request(redis_client, 7)
        assert decode(pop_reply(redis_client))["request_id"] == 7
    assert "Dropped message 6" in caplog.text
    wait_until(lambda: not redis_client.keys(f"{BASE}:processing:*"), "nothing in processing")


def test_closing_gives_back_what_was_taken_and_not_finished(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.rpush(REQUEST_QUEUE, request_bytes(8))
    transport = RedisServerTransport("echo", **layer(redis_url, **AT_LEAST_ONCE))
    assert transport.receive_request_message().request_id == 8
    transport.close()
    assert client.lrange(REQUEST_QUEUE, 0, -1) == [request_bytes(8)]
    assert client.keys("servicewire:*") == []


def test_the_reaper_of_a_stopped_server_is_taken_over(
    server: Callable[..., EchoServer], redis_client: redis.Redis
) -> None:
    redis_client.set(f"{BASE}:reaper", "ghost", px=600)
    strand(redis_client, "ghost", request_bytes(9))
    server()
    assert decode(pop_reply(redis_client, timeout=10))["request_id"] == 9
    assert redis_client.get(f"{BASE}:reaper") != b"ghost"


def test_at_most_once_costs_one_pop_and_one_push_per_request(
    redis_url: str, redis_client: redis.Redis
) -> None:
    with serving(EchoServer, layer(redis_url)):
        push_request(redis_client, 10)
        pop_reply(redis_client)
        redis_client.config_resetstat()
        for request_id in range(11, 31):
            push_request(redis_client, request_id)
            pop_reply(redis_client)
    assert commands_run(redis_client, "eval") == 20  # the replies
    assert commands_run(redis_client, "blmove") == 0
    assert redis_client.keys("servicewire:*") == []


def test_with_several_hosts_each_keeps_the_requests_taken_from_it(
    redis_url: str, redis_client: redis.Redis
) -> None:
    with running_redis() as other:
        second = redis.Redis.from_url(other.url)
        strand(second, "ghost", request_bytes(41))
        hosts = {"backend_layer_kwargs": {"hosts": [redis_url, other.url]}}
        kwargs = {**hosts, **AT_LEAST_ONCE}
        with serving(EchoServer, kwargs):
            redis_client.rpush(REQUEST_QUEUE, request_bytes(42))
            replies = set()
            for _ in range(2):
                # A reply list lives on the host its name hashes to.
                reply_host = (
                    redis_client if reply_host_index("pysoa:" + REPLY_TO, 2) == 0 else second
                )
                replies.add(decode(pop_reply(reply_host))["request_id"])
            assert replies == {41, 42}
            for host in (redis_client, second):
                wait_until(
                    lambda host=host: (
                        not any(host.llen(key) for key in host.keys(f"{BASE}:processing:*"))
                    ),
                    "every processing list to empty",
                )
                assert host.keys(f"{BASE}:heartbeat:*")
        assert not second.sismember(f"{BASE}:servers", "ghost")


def test_a_second_reply_to_one_request_does_not_stand_for_the_reply_of_another(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from servicewire.transport.redis import RedisClientTransport

    transport = RedisClientTransport("echo", **layer(redis_url))
    transport.send_request_message(61, {}, job())
    transport.send_request_message(62, {}, job())
    reply_to = transport._receiver().name  # a request delivered twice, answered twice
    for request_id in (61, 61, 62):
        redis_client.rpush(
            "pysoa:" + reply_to,
            framed({"request_id": request_id, "meta": {}, "body": {"errors": [], "actions": []}}),
        )

    received = [transport.receive_response_message(2).request_id for _ in range(3)]

    assert received == [61, 61, 62]
    assert transport.requests_outstanding == 0
    transport.close()
