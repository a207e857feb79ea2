"""RedisClientTransport against a real redis-server and a real server: requests on the
wire, replies matched to their callers, limits, and failures."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from servicewire import (
    CallActionError,
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    MessageTooLarge,
    MetricName,
    errors,
)
from servicewire.serializer import MsgpackSerializer
from servicewire.transport.redis import RedisClientTransport
from servicewire.transport.redis.link import QueueLink
from servicewire.transport.redis.protocol import (
    ProtocolVersion,
    build_frame,
    encode_envelope,
    parse_frame,
)
from tests.support.metrics import (
    RECORDING_METRICS,
    RecordingMetrics,
    check_sizes_recorded,
    metrics_of,
)
from tests.support.services import RedisServer, running_redis
from tests.support.waiting import wait_until
from tests.transport.redis.services import EchoServer
from tests.transport.redis.support import commands_run, layer, make_client, serving

MSGPACK = MsgpackSerializer()


def decode(data: bytes) -> dict[str, Any]:
    return MSGPACK.blob_to_dict(parse_frame(data).payload)


def test_call_action_round_trip(echo_server: Callable[..., Any], redis_url: str) -> None:
    echo_server()
    client = make_client("echo", layer(redis_url))
    assert client.call_action("echo", "echo", {"a": [1, 2]}).body == {"a": [1, 2]}


def test_action_errors_reach_the_caller(echo_server: Callable[..., Any], redis_url: str) -> None:
    echo_server()
    client = make_client("echo", layer(redis_url))
    with pytest.raises(CallActionError) as caught:
        client.call_action("echo", "fail")
    [error] = caught.value.actions[0].errors
    assert (error.code, error.field, error.is_caller_error) == ("NOPE", "reason", True)


def test_parallel_calls_from_one_thread_get_their_own_replies(
    echo_server: Callable[..., Any], redis_url: str
) -> None:
    echo_server()
    echo_server()
    client = make_client("echo", layer(redis_url))
    actions = [{"action": "echo", "body": {"i": i}} for i in range(20)]
    responses = client.call_actions_parallel("echo", actions)
    assert [response.body for response in responses] == [{"i": i} for i in range(20)]


def test_threads_sharing_a_client_each_get_their_own_replies(
    echo_server: Callable[..., Any], redis_url: str
) -> None:
    echo_server()
    client = make_client("echo", layer(redis_url))
    failures: list[str] = []

    def call(thread: int) -> None:
        for i in range(15):
            body = client.call_action("echo", "echo", {"thread": thread, "i": i}).body
            if body != {"thread": thread, "i": i}:
                failures.append(f"thread {thread} call {i} got {body}")

    threads = [threading.Thread(target=call, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


# --- on the wire --------------------------------------------------------------------------


def wait_until_queued(redis_client: redis.Redis) -> None:
    """Wait for the echo service's request queue to hold a request: a send returns once its
    push is written, and Redis runs the push a moment later."""
    wait_until(lambda: redis_client.llen("pysoa:service.echo"), "the request to be queued")


@pytest.mark.parametrize(
    ("version", "prefix"),
    [
        (1, b"\x83"),
        (2, b"content-type:application/msgpack;"),
        (3, b"pysoa-redis/3//content-type:application/msgpack;"),
    ],
)
def test_request_framing_follows_protocol_version(
    redis_url: str, redis_client: redis.Redis, version: int, prefix: bytes
) -> None:
    client = make_client("echo", layer(redis_url, protocol_version=version))
    client.send_request("echo", [{"action": "echo", "body": {"x": 1}}])
    wait_until_queued(redis_client)
    data = bytes(redis_client.lpop("pysoa:service.echo") or b"")
    assert data.startswith(prefix)
    assert parse_frame(data).version == version


def test_request_carries_client_version_reply_queue_and_expiry(
    redis_url: str, redis_client: redis.Redis
) -> None:
    client = make_client("echo", layer(redis_url))
    request_id = client.send_request("echo", [{"action": "echo", "body": {}}])
    wait_until_queued(redis_client)
    message = decode(bytes(redis_client.lpop("pysoa:service.echo") or b""))
    assert message["request_id"] == request_id
    meta = message["meta"]
    assert meta["client_version"] == [1, 4, 9]
    assert meta["reply_to"].startswith("service.echo.")
    client_id, _, number = meta["reply_to"][len("service.echo.") :].partition("!")
    assert len(client_id) == 32
    assert len(number) == 12
    assert time.time() + 55 < meta["__expiry__"] < time.time() + 61
    body = message["body"]
    assert body["actions"] == [{"action": "echo", "body": {}}]
    assert body["control"]["continue_on_error"] is False
    assert isinstance(body["context"]["correlation_id"], str)


def test_a_callers_timeout_sets_the_message_and_key_expiry(
    redis_url: str, redis_client: redis.Redis
) -> None:
    client = make_client("echo", layer(redis_url))
    client.call_action_future("echo", "echo", {}, timeout=1.5)
    wait_until_queued(redis_client)
    message = decode(bytes(redis_client.lpop("pysoa:service.echo") or b""))
    assert message["body"]["control"]["timeout"] == 1.5
    assert time.time() < message["meta"]["__expiry__"] < time.time() + 1.5
    client.send_request("echo", [{"action": "echo"}], message_expiry_in_seconds=20)
    wait_until_queued(redis_client)
    assert 25 < redis_client.ttl("pysoa:service.echo") <= 30


# --- limits and failures ------------------------------------------------------------------


def test_request_over_the_maximum_size_raises_message_too_large(redis_url: str) -> None:
    client = make_client("echo", layer(redis_url, maximum_message_size_in_bytes=1000))
    with pytest.raises(MessageTooLarge) as caught:
        client.call_action("echo", "echo", {"pad": "p" * 2000})
    assert caught.value.message_size_in_bytes > 2000
    assert "over the limit of 1000 bytes" in str(caught.value)


def test_no_reply_raises_message_receive_timeout_within_the_timeout(redis_url: str) -> None:
    client = make_client("echo", layer(redis_url))
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        client.call_action("echo", "echo", {}, timeout=0.3)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("protocol_version", [3, 2])
def test_full_request_queue_fails_within_the_bound_naming_queue_and_capacity(
    redis_url: str, redis_client: redis.Redis, protocol_version: int
) -> None:
    redis_client.rpush("pysoa:service.echo", b"waiting")
    # Time for one retry: the first pause is at most 0.5 s, the second at least 0.5 s.
    client = make_client(
        "echo",
        layer(
            redis_url,
            queue_capacity=1,
            queue_full_timeout_in_seconds=0.6,
            protocol_version=protocol_version,
        ),
        metrics=RECORDING_METRICS,
    )
    started = time.monotonic()
    with pytest.raises(MessageSendError, match=r"pysoa:service\.echo .*capacity 1 messages"):
        client.call_action("echo", "echo", {})
    assert time.monotonic() - started < 2.5
    assert redis_client.llen("pysoa:service.echo") == 1
    assert metrics_of(client.handlers["echo"]).recorded(
        "counter", MetricName.TRANSPORT_QUEUE_FULL_RETRY
    ) == [(1, {"service": "echo"})]


def test_push_refused_for_another_reason_is_reported_rather_than_a_timeout(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.set("pysoa:service.echo", "not a list")
    client = make_client("echo", layer(redis_url))
    with pytest.raises(MessageSendError, match="WRONGTYPE"):
        client.call_action("echo", "echo", {}, timeout=0.5)


def test_full_request_queue_succeeds_when_room_is_made_within_the_bound(
    echo_server: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.rpush("pysoa:service.echo", b"junk")
    client = make_client("echo", layer(redis_url, queue_capacity=1))
    timer = threading.Timer(0.3, echo_server)
    timer.start()
    try:
        assert client.call_action("echo", "echo", {"ok": 1}).body == {"ok": 1}
    finally:
        timer.join()


def test_late_reply_to_a_timed_out_call_is_dropped_with_a_log_line(
    echo_server: Callable[..., Any],
    redis_url: str,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    EchoServer.entered.clear()
    EchoServer.release.clear()
    echo_server()
    echo_server()
    client = make_client("echo", layer(redis_url))
    with pytest.raises(MessageReceiveTimeout):
        client.call_action("echo", "wait", {}, timeout=0.5)
    assert EchoServer.entered.wait(5)
    transport = client.handlers["echo"].transport
    assert isinstance(transport, RedisClientTransport)
    reply_key = "pysoa:" + transport._receiver().name
    with caplog.at_level(logging.WARNING, logger="servicewire.client"):
        EchoServer.release.set()
        # The late reply is first on this thread's queue; the next call must not take it.
        deadline = time.monotonic() + 5
        while not redis_client.llen(reply_key):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert client.call_action("echo", "echo", {"mine": True}).body == {"mine": True}
    assert "Dropped a reply" in caplog.text


def test_expired_reply_is_dropped_and_the_wait_goes_on(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = RecordingMetrics()
    transport = RedisClientTransport("echo", metrics, **layer(redis_url))
    transport.send_request_message(5, {}, {"actions": []})
    reply_key = "pysoa:" + transport._receiver().name
    stale = encode_envelope(4, {"__expiry__": time.time() - 1}, {"old": True}, MSGPACK)
    fresh = encode_envelope(5, {}, {"new": True}, MSGPACK)
    for payload in (stale, fresh):
        redis_client.rpush(
            reply_key, build_frame(payload, ProtocolVersion.VERSION_3, MSGPACK.mime_type)
        )
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.redis"):
        received = transport.receive_response_message(2)
    assert (received.request_id, received.body) == (5, {"new": True})
    assert "Dropped message 4" in caplog.text
    assert metrics.recorded("counter", MetricName.TRANSPORT_MESSAGE_EXPIRED) == [
        (1, {"service": "echo"})
    ]


def test_sizes_of_requests_and_responses_are_recorded_per_service(redis_url: str) -> None:
    client = make_client("echo", layer(redis_url), metrics=RECORDING_METRICS)
    with serving(EchoServer, layer(redis_url), metrics=RECORDING_METRICS) as server:
        client.call_action("echo", "echo", {"text": "x" * 5000})
    check_sizes_recorded(metrics_of(client.handlers["echo"]), metrics_of(server), "echo", 5000)


def push_replies(redis_client: redis.Redis, transport: RedisClientTransport, count: int) -> str:
    """Send ``count`` requests (to nobody) and put their replies on the thread's reply queue;
    return the queue's key."""
    reply_key = "pysoa:" + transport._receiver().name
    for request_id in range(1, count + 1):
        transport.send_request_message(request_id, {}, {"actions": []})
        payload = encode_envelope(request_id, {}, {"n": request_id}, MSGPACK)
        frame = build_frame(payload, ProtocolVersion.VERSION_3, MSGPACK.mime_type)
        redis_client.rpush(reply_key, frame)
    return reply_key


def test_replies_waiting_together_are_popped_in_one_wait(
    redis_url: str, redis_client: redis.Redis
) -> None:
    transport = RedisClientTransport("echo", **layer(redis_url))
    reply_key = push_replies(redis_client, transport, 5)
    first = transport.receive_response_message(2)
    assert redis_client.llen(reply_key) == 0
    rest = [transport.receive_response_message(2) for _ in range(4)]
    assert [reply.body for reply in (first, *rest)] == [{"n": n} for n in range(1, 6)]
    assert transport.receive_response_message(2) == (None, None, None)


def test_a_redis_without_blmpop_gives_replies_one_wait_at_a_time() -> None:
    with running_redis("--rename-command", "BLMPOP", "") as old_redis:
        redis_client = redis.Redis.from_url(old_redis.url)
        transport = RedisClientTransport("echo", **layer(old_redis.url))
        reply_key = push_replies(redis_client, transport, 3)
        first = transport.receive_response_message(2)
        assert redis_client.llen(reply_key) == 2
        rest = [transport.receive_response_message(2) for _ in range(2)]
        assert [reply.request_id for reply in (first, *rest)] == [1, 2, 3]
        assert transport.backend.several_per_pop is False
        transport.close()
        redis_client.close()


def test_unreadable_reply_raises_invalid_message_error(
    redis_url: str, redis_client: redis.Redis
) -> None:
    transport = RedisClientTransport("echo", **layer(redis_url))
    transport.send_request_message(5, {}, {"actions": []})
    redis_client.rpush("pysoa:" + transport._receiver().name, b"\xc1garbage")
    with pytest.raises(InvalidMessageError, match="Unreadable reply"):
        transport.receive_response_message(2)


def test_reply_queue_of_the_wrong_type_raises_message_receive_error(
    redis_url: str, redis_client: redis.Redis
) -> None:
    transport = RedisClientTransport("echo", **layer(redis_url))
    transport.send_request_message(5, {}, {"actions": []})
    redis_client.set("pysoa:" + transport._receiver().name, "not a list")
    with pytest.raises(MessageReceiveError, match="WRONGTYPE"):
        transport.receive_response_message(1)


def test_transport_expects_no_reply_when_nothing_is_outstanding(redis_url: str) -> None:
    transport = RedisClientTransport("echo", **layer(redis_url))
    assert transport.receive_response_message(1) == (None, None, None)
    transport.send_request_message(
        1, {}, {"control": {"suppress_response": True}}, expects_reply=False
    )
    assert transport.requests_outstanding == 0
    assert transport.receive_response_message(1) == (None, None, None)


def test_chunked_responses_arrive_whole_under_parallel_calls(
    echo_server: Callable[..., Any], redis_url: str
) -> None:
    chunking = {
        "chunk_messages_larger_than_bytes": 102400,
        "maximum_message_size_in_bytes": 2048000,
    }
    for _ in range(3):
        echo_server(**chunking)
    client = make_client("echo", layer(redis_url, receive_timeout_in_seconds=10))
    actions = [{"action": "big", "body": {"size": 250000 + i, "tag": f"<{i}>"}} for i in range(8)]
    for response, i in zip(client.call_actions_parallel("echo", actions), range(8), strict=True):
        assert response.body["data"].startswith(f"<{i}>")
        assert len(response.body["data"]) == 250000 + i


def test_client_call_during_an_outage_fails_fast_and_works_again_after(
    echo_server: Callable[..., Any], redis_url: str, redis_server: RedisServer
) -> None:
    echo_server()
    client = make_client("echo", layer(redis_url))
    assert client.call_action("echo", "echo", {"before": 1}).body == {"before": 1}
    redis_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises((errors.ConnectionError, MessageReceiveTimeout)):
            client.call_action("echo", "echo", {"during": 1}, timeout=2)
        assert time.monotonic() - started < 3
    finally:
        redis_server.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert client.call_action("echo", "echo", {"after": 1}, timeout=2).body == {"after": 1}
            break
        except (errors.ConnectionError, MessageReceiveTimeout):
            assert time.monotonic() < deadline, "the client never recovered"


def test_waiting_client_sees_the_connection_drop_at_once(
    redis_url: str, redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    client = make_client("echo", layer(redis_url))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.call_action("echo", "echo", {}, timeout=20)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=call)
    started = time.monotonic()
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not redis_client.llen("pysoa:service.echo"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        redis_server.restart()
        thread.join(10)
    finally:
        if redis_server.process is None:
            redis_server.start()
    assert time.monotonic() - started < 10
    assert len(outcome) == 1
    assert isinstance(outcome[0], errors.ConnectionError)


def test_server_thread_in_a_fixture_stops(redis_url: str) -> None:
    with serving(EchoServer, layer(redis_url)) as server:
        assert not server.shutting_down
    assert server.shutting_down


def test_a_future_call_sends_its_request_at_once(redis_url: str, redis_client: redis.Redis) -> None:
    client = make_client("echo", layer(redis_url))
    future = client.call_action_future("echo", "echo", {"x": 1})
    # Nobody waits for the reply yet: the request must not be held back for that wait.
    wait_until_queued(redis_client)
    del future


def test_a_call_waiting_at_once_sends_its_request_with_the_wait(
    echo_server: Callable[..., Any], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    echo_server()
    client = make_client("echo", layer(redis_url))
    held: list[bool] = []
    push = QueueLink.push

    def recording_push(link: QueueLink, key: str, *args: Any, **kwargs: Any) -> None:
        if key == "pysoa:service.echo":  # requests only (the server pushes in this process too)
            held.append(kwargs.get("hold", False))
        push(link, key, *args, **kwargs)

    monkeypatch.setattr(QueueLink, "push", recording_push)
    assert client.call_action("echo", "echo", {"x": 1}).body == {"x": 1}
    assert client.call_actions("echo", [{"action": "echo", "body": {"y": 2}}]).actions[0].body == {
        "y": 2
    }
    client.call_action_future("echo", "echo", {"z": 3}).result()
    assert held == [True, True, False]


# --- requests sent without acknowledgement --------------------------------------------------


def test_calls_after_the_first_send_their_requests_without_acknowledgement(
    echo_server: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    echo_server()
    client = make_client("echo", layer(redis_url))
    redis_client.config_resetstat()
    for number in range(4):
        assert client.call_action("echo", "echo", {"n": number}).body == {"n": number}
    # On each side (the client's requests, the server's responses): the first acknowledged,
    # the probe of CLIENT REPLY, then a SKIP before each of three.
    assert commands_run(redis_client, "client|reply") == 2 * 4


def test_a_full_queue_refuses_a_request_sent_without_acknowledgement_within_the_bound(
    redis_url: str, redis_client: redis.Redis
) -> None:
    kwargs = layer(redis_url, queue_capacity=1, queue_full_timeout_in_seconds=0.6)
    client = make_client("echo", kwargs, metrics=RECORDING_METRICS)
    with serving(EchoServer, layer(redis_url)):
        client.call_action("echo", "echo", {})
        client.call_action("echo", "echo", {})
    redis_client.rpush("pysoa:service.echo", b"waiting")
    redis_client.config_resetstat()
    started = time.monotonic()
    with pytest.raises(MessageSendError, match=r"pysoa:service\.echo .*capacity 1 messages"):
        client.call_action("echo", "echo", {})
    assert time.monotonic() - started < 2.5
    # The refused request went without acknowledgement, and its marker said so at once.
    assert commands_run(redis_client, "client|reply") == 1
    assert redis_client.lrange("pysoa:service.echo", 0, -1) == [b"waiting"]
    assert metrics_of(client.handlers["echo"]).recorded(
        "counter", MetricName.TRANSPORT_QUEUE_FULL_RETRY
    ) == [(1, {"service": "echo"})]


def test_a_request_refused_unseen_times_out_and_the_next_call_says_why() -> None:
    with running_redis() as redis_server:
        admin = redis.Redis.from_url(redis_server.url)
        client = make_client("echo", layer(redis_server.url))
        with serving(EchoServer, layer(redis_server.url)):
            client.call_action("echo", "echo", {})
            client.call_action("echo", "echo", {})
            # Out of memory, Redis refuses the push but not the wait for its reply.
            admin.config_set("maxmemory", 1)
            try:
                with pytest.raises(MessageReceiveTimeout):
                    client.call_action("echo", "echo", {}, timeout=0.5)
                with pytest.raises(MessageSendError, match="OOM"):
                    client.call_action("echo", "echo", {}, timeout=0.5)
            finally:
                admin.config_set("maxmemory", 0)
            # At once on a new connection (the refused one still owed the wait's answer).
            assert client.call_action("echo", "echo", {"again": 1}).body == {"again": 1}
        admin.close()


def test_a_push_refused_on_a_trusted_connection_is_reported_by_the_call_after(
    redis_url: str, redis_client: redis.Redis
) -> None:
    client = make_client("echo", layer(redis_url))
    with serving(EchoServer, layer(redis_url)):
        client.call_action("echo", "echo", {})
        client.call_action("echo", "echo", {})
    redis_client.set("pysoa:service.echo", "not a list")
    with pytest.raises(MessageReceiveTimeout):
        client.call_action("echo", "echo", {}, timeout=0.3)
    with pytest.raises(MessageSendError, match="WRONGTYPE"):
        client.call_action("echo", "echo", {}, timeout=0.3)


def test_a_stale_queue_full_marker_is_skipped(
    echo_server: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    echo_server()
    client = make_client("echo", layer(redis_url))
    client.call_action("echo", "echo", {})
    transport = client.handlers["echo"].transport
    assert isinstance(transport, RedisClientTransport)
    reply_queue = transport._receiver().key
    # Request ids start at 1 or more: no request of this client is the marker's.
    redis_client.rpush(reply_queue, b"servicewire:queue-full:0", b"servicewire:queue-full")
    assert client.call_action("echo", "echo", {"n": 1}).body == {"n": 1}
    assert client.call_action("echo", "echo", {"n": 2}).body == {"n": 2}
