"""RedisServerTransport against a real redis-server: what a server reads and writes on the
wire, and how it survives bad input and lost connections."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
import redis

from servicewire import MetricName
from servicewire.serializer import JSONSerializer, MsgpackSerializer
from servicewire.serializer.base import Serializer
from servicewire.transport.redis.protocol import (
    ProtocolVersion,
    build_frame,
    encode_envelope,
    parse_frame,
    split_into_chunks,
)
from tests.support.metrics import RECORDING_METRICS, metrics_of
from tests.support.services import RedisServer
from tests.transport.redis.services import EchoServer
from tests.transport.redis.support import commands_run, layer, serving

REQUEST_QUEUE = "pysoa:service.echo"
REPLY_TO = "service.echo.test!000000000001"
MSGPACK = MsgpackSerializer()
JSON = JSONSerializer()


def job(action: str = "echo", body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c0ffee", "switches": []},
        "actions": [{"action": action, "body": body if body is not None else {"n": 1}}],
    }


def push_request(
    client: redis.Redis,
    request_id: int,
    body: Any = None,
    *,
    version: ProtocolVersion = ProtocolVersion.VERSION_3,
    serializer: Serializer = MSGPACK,
    meta: dict[str, Any] | None = None,
    reply_to: str = REPLY_TO,
) -> None:
    meta = {"client_version": [1, 4, 9], "reply_to": reply_to, **(meta or {})}
    payload = encode_envelope(request_id, meta, job() if body is None else body, serializer)
    client.rpush(REQUEST_QUEUE, build_frame(payload, version, serializer.mime_type))


def pop_reply(client: redis.Redis, reply_to: str = REPLY_TO, timeout: float = 5) -> bytes:
    item = client.blpop(["pysoa:" + reply_to], timeout=timeout)
    assert item is not None, "no reply arrived"
    return bytes(item[1])


def decode(data: bytes, serializer: Serializer = MSGPACK) -> dict[str, Any]:
    return serializer.blob_to_dict(parse_frame(data).payload)


@pytest.fixture
def server(redis_url: str) -> Iterator[Callable[..., Any]]:
    """Start EchoServer (with recording metrics) and extra transport settings."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def start(**transport_kwargs: Any) -> EchoServer:
            return stack.enter_context(  # type: ignore[no-any-return]
                serving(
                    EchoServer,
                    layer(redis_url, **transport_kwargs),
                    metrics=RECORDING_METRICS,
                )
            )

        yield start


# --- replies in kind --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "serializer", "prefix"),
    [
        (ProtocolVersion.VERSION_3, MSGPACK, b"pysoa-redis/3//content-type:application/msgpack;"),
        (ProtocolVersion.VERSION_3, JSON, b"pysoa-redis/3//content-type:application/json;"),
        (ProtocolVersion.VERSION_2, MSGPACK, b"content-type:application/msgpack;"),
        (ProtocolVersion.VERSION_2, JSON, b"content-type:application/json;"),
        (ProtocolVersion.VERSION_1, MSGPACK, b"\x83"),
    ],
)
def test_server_replies_in_the_version_and_serializer_of_the_request(
    server: Callable[..., Any],
    redis_client: redis.Redis,
    version: ProtocolVersion,
    serializer: Serializer,
    prefix: bytes,
) -> None:
    server()
    push_request(redis_client, 11, job(body={"n": 2}), version=version, serializer=serializer)
    reply = pop_reply(redis_client)
    assert reply.startswith(prefix)
    message = decode(reply, serializer)
    assert message["request_id"] == 11
    assert message["body"]["actions"][0]["body"] == {"n": 2}


def test_reply_echoes_the_request_meta_with_a_fresh_expiry(
    server: Callable[..., Any], redis_client: redis.Redis
) -> None:
    server()
    push_request(redis_client, 12, meta={"__expiry__": time.time() + 5, "custom": [1, "a"]})
    meta = decode(pop_reply(redis_client))["meta"]
    assert meta["custom"] == [1, "a"]
    assert meta["reply_to"] == REPLY_TO
    assert meta["client_version"] == [1, 4, 9]
    assert time.time() + 55 < meta["__expiry__"] < time.time() + 61


def test_reply_queue_key_expires_after_the_message_expiry(
    server: Callable[..., Any], redis_client: redis.Redis
) -> None:
    server(message_expiry_in_seconds=30)
    push_request(redis_client, 13, reply_to="service.echo.kept!000000000001")
    deadline = time.monotonic() + 5
    while not redis_client.exists("pysoa:service.echo.kept!000000000001"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert 25 < redis_client.ttl("pysoa:service.echo.kept!000000000001") <= 30


def test_old_clients_do_not_get_error_fields_they_do_not_know(
    server: Callable[..., Any], redis_client: redis.Redis
) -> None:
    server()
    payload = encode_envelope(14, {"reply_to": REPLY_TO}, job("fail"), MSGPACK)
    redis_client.rpush(REQUEST_QUEUE, payload)
    error = decode(pop_reply(redis_client))["body"]["actions"][0]["errors"][0]
    assert error["code"] == "NOPE"
    assert "is_caller_error" not in error
    assert "denied_permissions" not in error


# --- bad messages -------------------------------------------------------------------------

SECRET = "hunter2-secret"


def framed(message: dict[str, Any]) -> bytes:
    return build_frame(msgpack.packb(message), ProtocolVersion.VERSION_3, MSGPACK.mime_type)


def _bad_payloads() -> dict[str, tuple[bytes, bool, str]]:
    """name -> (bytes to push, whether the server can answer, the metric's reason)."""
    meta = {"reply_to": REPLY_TO, "client_version": [1, 4, 9]}
    body = job(body={"password": SECRET})
    packed = encode_envelope(21, meta, body, MSGPACK)
    header = b"pysoa-redis/3//content-type:application/msgpack;"
    large_body = job(body={"password": SECRET, "pad": "p" * 3000})
    return {
        "undecodable": (header + b"\xc1" + SECRET.encode(), False, "invalid_envelope"),
        "no request id": (framed({"meta": meta, "body": body}), False, "invalid_envelope"),
        "request id not an int": (
            framed({"request_id": "21", "meta": meta, "body": body}),
            False,
            "invalid_envelope",
        ),
        "no reply_to": (
            framed({"request_id": 21, "meta": {"client_version": [1, 4, 9]}, "body": body}),
            False,
            "no_reply_to",
        ),
        "no body": (framed({"request_id": 21, "meta": meta}), True, "no_body"),
        "unknown protocol version": (
            b"pysoa-redis/7//content-type:application/msgpack;" + packed,
            True,
            "unsupported_version",
        ),
        "chunked request": (
            split_into_chunks(packed, MSGPACK.mime_type, 10)[0],
            False,
            "chunked_request",
        ),
        "malformed chunk headers": (
            b"pysoa-redis/3//chunk-count:x;chunk-id:1;" + packed,
            False,
            "invalid_frame",
        ),
        "oversized": (
            framed({"request_id": 21, "meta": meta, "body": large_body}),
            True,
            "message_too_large",
        ),
    }


@pytest.mark.parametrize("case", sorted(_bad_payloads()))
def test_bad_message_is_logged_censored_counted_answered_when_possible_and_serving_goes_on(
    server: Callable[..., Any],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    data, answerable, reason = _bad_payloads()[case]
    metrics = metrics_of(server(maximum_message_size_in_bytes=2000))
    with caplog.at_level(logging.DEBUG):
        redis_client.rpush(REQUEST_QUEUE, data)
        push_request(redis_client, 22)
        first = decode(pop_reply(redis_client))
        if answerable:
            assert first["request_id"] == 21
            [error] = first["body"]["errors"]
            assert error["code"] == "INVALID"
            assert first["body"]["actions"] == []
            first = decode(pop_reply(redis_client))
        assert first["request_id"] == 22
        assert first["body"]["actions"][0]["body"] == {"n": 1}
    assert metrics.counts["server.transport.redis.receive.error." + reason] == 1
    assert metrics.counts["server.error.bad_message"] == 1
    assert "bad message" in caplog.text
    assert SECRET not in caplog.text


def test_unknown_protocol_version_is_answered_in_version_3(
    server: Callable[..., Any], redis_client: redis.Redis
) -> None:
    server()
    packed = encode_envelope(23, {"reply_to": REPLY_TO}, job(), MSGPACK)
    redis_client.rpush(REQUEST_QUEUE, b"pysoa-redis/4//content-type:application/msgpack;" + packed)
    reply = pop_reply(redis_client)
    assert reply.startswith(b"pysoa-redis/3//content-type:application/msgpack;")
    assert "protocol version 4" in decode(reply)["body"]["errors"][0]["message"]


# --- the reply path -----------------------------------------------------------------------

BAD_REPLY_QUEUES = {
    "the service's own request queue": "service.echo",
    "another service's request queue": "service.other",
    "an empty name": "",
    "an oversized name": "service.echo.x!" + "a" * 600,
    "a name outside the transport's queues": "elsewhere.echo!000000000001",
    "not a string": 404,
}


@pytest.mark.parametrize("case", sorted(BAD_REPLY_QUEUES))
def test_request_naming_no_reply_queue_gets_no_reply_a_warning_and_a_metric(
    server: Callable[..., Any],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    reply_to: Any = BAD_REPLY_QUEUES[case]
    metrics = metrics_of(server())
    with caplog.at_level(logging.WARNING):
        meta = {"client_version": [1, 4, 9], "reply_to": reply_to}
        redis_client.rpush(REQUEST_QUEUE, framed({"request_id": 51, "meta": meta, "body": job()}))
        push_request(redis_client, 52)
        assert decode(pop_reply(redis_client))["request_id"] == 52

        # Whatever the server does next, it sends nothing: no push over an observation window
        # of a few of its receive timeouts, and every request queue stays empty.
        redis_client.config_resetstat()
        time.sleep(1.0)
        assert commands_run(redis_client, "eval") == 0
        assert commands_run(redis_client, "blpop") < 20
    assert redis_client.llen(REQUEST_QUEUE) == 0
    assert redis_client.llen("pysoa:service.other") == 0
    assert redis_client.keys("pysoa:*") == []
    assert metrics.counts["server.transport.redis.receive.error.bad_reply_to"] == 1
    assert metrics.counts["server.error.bad_message"] == 1
    [warning] = [r for r in caplog.records if "bad message" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert "not answered" in warning.getMessage()


def test_server_never_sends_a_response_into_a_request_queue(redis_url: str) -> None:
    from servicewire.errors import InvalidMessageError
    from servicewire.transport.redis import RedisServerTransport

    transport = RedisServerTransport("echo", **layer(redis_url))
    for reply_to in ("service.echo", "service.other", "", "x!y"):
        with pytest.raises(InvalidMessageError, match="not sent"):
            transport.send_response_message(53, {"reply_to": reply_to}, {"errors": []})
    transport.close()
    assert redis.Redis.from_url(redis_url).keys("*") == []


# --- expiry -------------------------------------------------------------------------------


def test_reply_queues_found_fit_are_remembered_within_a_bound(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servicewire.errors import InvalidMessageError
    from servicewire.transport.redis import RedisServerTransport
    from servicewire.transport.redis import server as server_module

    monkeypatch.setattr(server_module, "_MOST_FIT_REPLY_QUEUES_KEPT", 8)
    transport = RedisServerTransport("echo", **layer(redis_url))
    for number in range(20):
        transport.send_response_message(number, {"reply_to": f"service.echo.c!{number}"}, {})
    assert 0 < len(transport._fit_reply_queues) <= 8
    # A fit queue remembered, and one refused, are judged as before.
    remembered = next(iter(transport._fit_reply_queues))
    transport.send_response_message(1, {"reply_to": remembered}, {"errors": []})
    for number in (2, 3):
        with pytest.raises(InvalidMessageError, match="not a reply queue"):
            transport.send_response_message(number, {"reply_to": "service.echo"}, {})
    transport.close()


def test_expired_request_is_dropped_with_a_log_line_and_a_metric(
    server: Callable[..., Any],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = metrics_of(server())
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.redis"):
        push_request(redis_client, 31, meta={"__expiry__": time.time() - 1})
        push_request(redis_client, 32)
        assert decode(pop_reply(redis_client))["request_id"] == 32
    assert metrics.recorded("counter", MetricName.TRANSPORT_MESSAGE_EXPIRED) == [
        (1, {"service": "echo"})
    ]
    assert "Dropped message 31" in caplog.text
    assert "expired" in caplog.text


# --- size limits and chunking -------------------------------------------------------------


def test_response_over_the_maximum_is_replaced_by_response_too_large(
    server: Callable[..., Any], redis_client: redis.Redis
) -> None:
    server(maximum_message_size_in_bytes=5000)
    push_request(redis_client, 41, job("big", {"size": 6000}))
    body = decode(pop_reply(redis_client))["body"]
    assert [error["code"] for error in body["errors"]] == ["RESPONSE_TOO_LARGE"]
    assert body["actions"] == []


def test_large_response_is_logged_censored_on_the_oversized_message_logger(
    server: Callable[..., Any], redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    server(log_messages_larger_than_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.oversized_message"):
        push_request(redis_client, 42, job("echo", {"password": SECRET, "pad": "p" * 2000}))
        pop_reply(redis_client)
    [record] = [r for r in caplog.records if r.name == "servicewire.transport.oversized_message"]
    assert "Oversized message" in record.getMessage()
    assert SECRET not in record.getMessage()
    assert record.getMessage().endswith("... (cut)")
    assert len(record.getMessage()) < 2200


def test_chunked_response_is_pushed_whole_and_in_order(
    server: Callable[..., Any], redis_client: redis.Redis
) -> None:
    server(chunk_messages_larger_than_bytes=102400, maximum_message_size_in_bytes=1024000)
    push_request(redis_client, 43, job("big", {"size": 300000, "tag": "start"}))
    first = pop_reply(redis_client)
    count = parse_frame(first).chunk_count
    assert count == 3
    chunks = [first] + [bytes(item) for item in redis_client.lrange("pysoa:" + REPLY_TO, 0, -1)]
    assert len(chunks) == 3, "all chunks are on the queue together"
    for number, chunk in enumerate(chunks, start=1):
        assert chunk.startswith(
            b"pysoa-redis/3//content-type:application/msgpack;chunk-count:3;chunk-id:%d;" % number
        )
    payload = b"".join(parse_frame(chunk).payload for chunk in chunks)
    data = MSGPACK.blob_to_dict(payload)["body"]["actions"][0]["body"]["data"]
    assert data.startswith("start")
    assert len(data) == 300000


def test_responses_to_version_2_requests_are_never_chunked(
    server: Callable[..., Any], redis_client: redis.Redis
) -> None:
    server(chunk_messages_larger_than_bytes=102400, maximum_message_size_in_bytes=1024000)
    push_request(redis_client, 44, job("big", {"size": 200000}), version=ProtocolVersion.VERSION_2)
    reply = pop_reply(redis_client)
    assert parse_frame(reply).chunk_count is None
    assert len(decode(reply)["body"]["actions"][0]["body"]["data"]) == 200000


# --- full reply queues and lost connections -----------------------------------------------


def undelivered_then_served(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture, reply_to: str
) -> None:
    """Send request 51 answered to ``reply_to`` (which cannot take it), then request 52: 52
    is answered, and 51's failure is logged."""
    with caplog.at_level(logging.ERROR, logger="servicewire.transport.redis"):
        push_request(redis_client, 51, reply_to=reply_to)
        push_request(redis_client, 52)
        assert decode(pop_reply(redis_client))["request_id"] == 52
        deadline = time.monotonic() + 5
        while "Could not deliver the response to request 51" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.02)


def test_full_reply_queue_is_retried_within_the_bound_then_logged_and_serving_goes_on(
    server: Callable[..., Any], redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stuck = "service.echo.stuck!000000000001"
    redis_client.rpush("pysoa:" + stuck, b"old-1", b"old-2")
    metrics = metrics_of(server(queue_capacity=2, queue_full_timeout_in_seconds=0.5))
    undelivered_then_served(redis_client, caplog, stuck)
    assert "pysoa:" + stuck in caplog.text
    assert "capacity 2" in caplog.text
    assert redis_client.llen("pysoa:" + stuck) == 2
    assert metrics.recorded("counter", MetricName.TRANSPORT_QUEUE_FULL_RETRY) == [
        (1, {"service": "echo"})
    ]


def test_refused_reply_is_logged_and_serving_goes_on(
    server: Callable[..., Any], redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    broken = "service.echo.broken!000000000001"
    redis_client.set("pysoa:" + broken, "not a list")
    server()
    undelivered_then_served(redis_client, caplog, broken)
    assert "WRONGTYPE" in caplog.text


def test_server_reconnects_after_redis_restarts_and_serves_on(
    server: Callable[..., Any],
    redis_client: redis.Redis,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server()
    push_request(redis_client, 61)
    assert decode(pop_reply(redis_client))["request_id"] == 61
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.redis"):
        redis_server.restart()
        push_request(redis_client, 62)
        assert decode(pop_reply(redis_client, timeout=10))["request_id"] == 62
    assert "Lost the connection to Redis" in caplog.text
    assert "Receiving requests for service 'echo' again" in caplog.text


def test_a_request_queue_of_the_wrong_type_is_logged_once_and_waited_out(
    server: Callable[..., Any], redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    redis_client.set(REQUEST_QUEUE, "not a list")
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.redis"):
        server()
        deadline = time.monotonic() + 5
        while "WRONGTYPE" not in caplog.text:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        redis_client.delete(REQUEST_QUEUE)
        push_request(redis_client, 63)
        assert decode(pop_reply(redis_client))["request_id"] == 63
    assert caplog.text.count("Cannot receive requests") == 1


# --- worker threads ---------------------------------------------------------------------


def test_with_workers_each_reply_is_acknowledged_by_the_thread_that_sent_it(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from servicewire.errors import MessageSendError
    from servicewire.transport.redis import RedisServerTransport

    stuck = "service.echo.stuck!000000000002"
    redis_client.rpush("pysoa:" + stuck, b"old")
    transport = RedisServerTransport(
        "echo", **layer(redis_url, queue_capacity=1, queue_full_timeout_in_seconds=0.2)
    )
    transport.enable_concurrent_requests(2)
    outcomes: dict[str, Any] = {}

    def worker() -> None:
        transport.send_response_message(1, {"reply_to": REPLY_TO}, {"n": 1})
        outcomes["pending"] = list(transport._link(0).pending)
        try:
            transport.send_response_message(2, {"reply_to": stuck}, {"n": 2})
        except MessageSendError as error:
            outcomes["error"] = str(error)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    transport.close()

    assert decode(pop_reply(redis_client))["request_id"] == 1
    assert outcomes["pending"] == []
    assert "capacity 1" in outcomes["error"]


# --- what the server's observers learn of a request ------------------------------------


@pytest.mark.parametrize(
    ("version", "serializer"),
    [(ProtocolVersion.VERSION_3, MSGPACK), (ProtocolVersion.VERSION_2, JSON)],
)
def test_message_details_name_the_queue_the_reply_route_and_the_framing(
    redis_url: str, version: ProtocolVersion, serializer: Serializer
) -> None:
    from servicewire.transport.redis import RedisServerTransport

    transport = RedisServerTransport("echo", **layer(redis_url, receive_timeout_in_seconds=2))
    push_request(redis.Redis.from_url(redis_url), 77, version=version, serializer=serializer)
    request_id, meta, _ = transport.receive_request_message()
    assert request_id == 77
    assert meta is not None

    details = transport.message_details(request_id, meta)

    assert details.request_id == 77
    assert details.queue == REQUEST_QUEUE
    assert details.delivery_attempt == 1
    assert details.extra == {
        "reply_to": REPLY_TO,
        "protocol_version": int(version),
        "content_type": serializer.mime_type,
    }
    transport.close()


# --- a response written with the next wait ---------------------------------------------


def test_a_response_told_a_receive_follows_goes_out_with_that_receive(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from servicewire.errors import MessageReceiveTimeout
    from servicewire.transport.redis import RedisServerTransport

    transport = RedisServerTransport("echo", **layer(redis_url, receive_timeout_in_seconds=0.1))
    pushes_before = commands_run(redis_client, "eval")
    transport.send_response_message(1, {"reply_to": REPLY_TO}, {"n": 1}, receive_follows=True)
    # Held back, not written: Redis has run no push yet.
    assert commands_run(redis_client, "eval") == pushes_before
    with pytest.raises(MessageReceiveTimeout):
        transport.receive_request_message()
    assert commands_run(redis_client, "eval") == pushes_before + 1
    assert decode(pop_reply(redis_client))["request_id"] == 1
    transport.close()


def test_a_held_response_is_written_by_close(redis_url: str, redis_client: redis.Redis) -> None:
    from servicewire.transport.redis import RedisServerTransport

    transport = RedisServerTransport("echo", **layer(redis_url))
    transport.send_response_message(2, {"reply_to": REPLY_TO}, {"n": 2}, receive_follows=True)
    transport.close()
    assert decode(pop_reply(redis_client))["request_id"] == 2


def test_a_large_response_is_written_at_once_even_when_a_receive_follows(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from servicewire.transport.redis import RedisServerTransport

    transport = RedisServerTransport("echo", **layer(redis_url))
    body = {"text": "x" * 20_000}
    transport.send_response_message(3, {"reply_to": REPLY_TO}, body, receive_follows=True)
    # Nothing else is written: the reply arrives on its own.
    assert decode(pop_reply(redis_client))["body"] == body
    transport.close()


def test_a_receiving_thread_of_a_server_with_workers_never_holds_a_response(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from servicewire.transport.redis import RedisServerTransport

    transport = RedisServerTransport("echo", **layer(redis_url))
    transport.enable_concurrent_requests(2)
    transport.send_response_message(4, {"reply_to": REPLY_TO}, {"n": 4}, receive_follows=True)
    assert decode(pop_reply(redis_client))["request_id"] == 4
    transport.close()


def answering_into_a_full_queue(
    redis_url: str, redis_client: redis.Redis, stuck: str, *, receive_timeout: float
) -> Any:
    """A server transport whose reply queue ``stuck`` is already full."""
    from servicewire.transport.redis import RedisServerTransport

    redis_client.rpush("pysoa:" + stuck, b"old")
    return RedisServerTransport(
        "echo",
        **layer(
            redis_url,
            queue_capacity=1,
            queue_full_timeout_in_seconds=0.2,
            receive_timeout_in_seconds=receive_timeout,
        ),
    )


def assert_refused_for_a_full_queue(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture, stuck: str, *, request_id: int
) -> None:
    assert f"Could not deliver the response to request {request_id}" in caplog.text
    assert "capacity 1" in caplog.text
    assert redis_client.lrange("pysoa:" + stuck, 0, -1) == [b"old"]


def test_a_held_response_refused_for_a_full_queue_is_retried_by_the_receive_then_logged(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    from servicewire.errors import MessageReceiveTimeout

    stuck = "service.echo.stuck!000000000003"
    transport = answering_into_a_full_queue(redis_url, redis_client, stuck, receive_timeout=0.1)
    transport.send_response_message(5, {"reply_to": stuck}, {"n": 5}, receive_follows=True)
    with caplog.at_level(logging.ERROR, logger="servicewire.transport.redis"):
        with pytest.raises(MessageReceiveTimeout):
            transport.receive_request_message()
    assert_refused_for_a_full_queue(redis_client, caplog, stuck, request_id=5)
    transport.close()


def test_a_held_response_lost_with_its_connection_is_logged_and_the_receive_goes_on(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    from servicewire.transport.redis import RedisServerTransport

    transport = RedisServerTransport("echo", **layer(redis_url, receive_timeout_in_seconds=5))
    transport.send_response_message(6, {"reply_to": REPLY_TO}, {"n": 6}, receive_follows=True)
    # The server's connection dies before the receive that would have written the response.
    redis_client.client_kill_filter(_type="normal", skipme=True)
    push_request(redis_client, 82)
    with caplog.at_level(logging.WARNING, logger="servicewire.transport.redis"):
        request_id, _, _ = transport.receive_request_message()
    assert request_id == 82
    assert "1 push(es) may not have been delivered" in caplog.text
    transport.close()


def test_a_response_refused_unacknowledged_is_told_by_a_notice_and_the_receive_waits_on(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stuck = "service.echo.stuck!000000000007"
    transport = answering_into_a_full_queue(redis_url, redis_client, stuck, receive_timeout=5)
    # The first response is acknowledged (with the next receive): Redis accepts pushes.
    transport.send_response_message(1, {"reply_to": REPLY_TO}, {"n": 1}, receive_follows=True)
    push_request(redis_client, 91)
    assert transport.receive_request_message()[0] == 91
    assert decode(pop_reply(redis_client))["request_id"] == 1
    redis_client.config_resetstat()
    transport.send_response_message(5, {"reply_to": stuck}, {"n": 5}, receive_follows=True)
    push_request(redis_client, 92)
    with caplog.at_level(logging.ERROR, logger="servicewire.transport.redis"):
        # The notice ends the wait first; the refused response is retried, then logged, and
        # the same receive goes on to the request.
        assert transport.receive_request_message()[0] == 92
    # The response went without acknowledgement: the probe of CLIENT REPLY, then a SKIP.
    assert commands_run(redis_client, "client|reply") == 2
    assert_refused_for_a_full_queue(redis_client, caplog, stuck, request_id=5)
    assert redis_client.keys("pysoa:servicewire.notices.*") == []
    transport.close()


def test_a_serving_loop_sends_responses_without_acknowledgement_and_retries_a_refused_one(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stuck = "service.echo.stuck!000000000008"
    redis_client.rpush("pysoa:" + stuck, b"old-1")
    # Without metrics, as responses go with the next wait only then.
    with serving(EchoServer, layer(redis_url, queue_capacity=1, queue_full_timeout_in_seconds=0.3)):
        redis_client.config_resetstat()
        for request_id in (41, 42):
            push_request(redis_client, request_id)
            assert decode(pop_reply(redis_client))["request_id"] == request_id
        undelivered_then_served(redis_client, caplog, stuck)
        # 41 acknowledged; the probe, then SKIP before 42 and 51; 52, after a refusal,
        # acknowledged.
        assert commands_run(redis_client, "client|reply") == 3
    assert "capacity 1" in caplog.text
    assert redis_client.lrange("pysoa:" + stuck, 0, -1) == [b"old-1"]


class WaitingAfterEachRequest(EchoServer):
    """Post-request actions that wait until the test has the response."""

    answered = threading.Event()

    def perform_post_request_actions(self) -> None:
        super().perform_post_request_actions()
        self.answered.wait(10)


def test_a_response_does_not_wait_for_the_post_request_actions(
    redis_url: str, redis_client: redis.Redis
) -> None:
    with serving(WaitingAfterEachRequest, layer(redis_url)):
        push_request(redis_client, 61)
        # Held for the next receive, the response would wait for the post-request actions,
        # which wait for it: no reply within the bound.
        reply = pop_reply(redis_client, timeout=5)
        WaitingAfterEachRequest.answered.set()
    assert decode(reply)["request_id"] == 61


def test_a_serving_loop_answers_each_request_with_responses_written_with_its_waits(
    redis_url: str, redis_client: redis.Redis
) -> None:
    with serving(EchoServer, layer(redis_url)):
        for request_id in (71, 72, 73):
            push_request(redis_client, request_id)
            assert decode(pop_reply(redis_client))["request_id"] == request_id
