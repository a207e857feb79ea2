"""The whole server receive path, fuzzed over Redis and SQL: whatever bytes land on a
service's queue, the server answers with a typed error or not at all (with a log line),
never raises or logs a traceback, and answers the next good request.

Hypothesis writes the messages: raw bytes, and near-valid ones whose every envelope field
(framing version, content type, chunk headers, ``request_id``, ``meta`` and its
``client_version``, ``reply_to``, ``__expiry__``, ``body``) may be of any type.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from servicewire import MessageReceiveTimeout
from servicewire.serializer import MsgpackSerializer
from servicewire.transport.redis.protocol import read_message
from servicewire.transport.sql import SqlClientTransport
from servicewire.transport.sql.database import open_database
from servicewire.transport.sql.envelope import decode_payload
from tests.transport.redis.services import EchoServer
from tests.transport.redis.support import SERVER_TRANSPORT, layer

REPLY_TO = "service.echo.fuzz!000000000001"
GOOD_REQUEST_ID = 999_999
GOOD_JOB: dict[str, Any] = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "fuzz", "switches": []},
    "actions": [{"action": "echo", "body": {"n": 1}}],
}
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- what Hypothesis pushes ---------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
client_versions = (
    st.sampled_from([[1, 4, 9], [0, 39], [0, 70, 1]])
    | st.lists(st.integers(0, 200), max_size=4)
    | st.lists(anything, max_size=3)
    | scalars
    | st.dictionaries(st.text(max_size=4), scalars, max_size=2)
)
reply_queues = (
    st.sampled_from([REPLY_TO, "service.echo", "", "service.echo.x!" + "y" * 600, "nowhere!1"])
    | anything
)
expiries = st.sampled_from([None, 0, time.time() + 60, time.time() - 1]) | scalars
jobs = (
    st.sampled_from([GOOD_JOB, {}, {"actions": []}])
    | st.fixed_dictionaries({"control": anything, "context": anything, "actions": anything})
    | anything
)


@st.composite
def metas(draw: st.DrawFn) -> Any:
    meta: dict[str, Any] = {}
    for key, values in (
        ("client_version", client_versions),
        ("reply_to", reply_queues),
        ("__expiry__", expiries),
    ):
        if draw(st.booleans()):
            meta[key] = draw(values)
    return meta if draw(st.integers(0, 9)) else draw(anything)


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    message: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        message["request_id"] = draw(st.integers(-5, 2**40) | anything)
    if draw(st.integers(0, 9)):
        message["meta"] = draw(metas())
    if draw(st.integers(0, 9)):
        message["body"] = draw(jobs)
    if draw(st.booleans()):
        return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]
    import json

    return json.dumps(message, default=repr).encode()


framings = st.sampled_from(
    [
        b"pysoa-redis/3//content-type:application/msgpack;",
        b"pysoa-redis/3//content-type:application/json;",
        b"content-type:application/msgpack;",
        b"content-type:application/json;",
        b"",
        b"pysoa-redis/9//content-type:application/msgpack;",
        b"pysoa-redis/99999999999//",
        b"pysoa-redis/3//content-type:text/x-nonsense;",
        b"pysoa-redis/3//content-type:application/msgpack;chunk-count:2;chunk-id:1;",
        b"pysoa-redis/3//content-type:application/msgpack;chunk-count:1;chunk-id:3;",
        b"pysoa-redis/3//chunk-count:0;chunk-id:x;",
        b"content-type:application/msgpack;chunk-count:1;chunk-id:1;",
    ]
)
redis_messages = st.binary(max_size=200) | st.builds(
    lambda frame, payload: frame + payload, framings, envelopes()
)


# --- what comes back ----------------------------------------------------------------------


class Tracebacks(logging.Handler):
    """Collects the log records that carry a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    logger = logging.getLogger("servicewire")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def check_reply(request_id: Any, body: Any) -> None:
    """A reply to a fuzzed message is a job response, its errors typed."""
    assert isinstance(body, dict), body
    for error in body.get("errors", []):
        assert isinstance(error["code"], str)
        assert isinstance(error["message"], str)


def serve_until_answered(server: Any, replies: Any, what: str) -> dict[Any, Any]:
    """Let ``server`` handle requests until the good request's reply came back: it must
    never raise, whatever came before. Returns the other replies, by request id."""
    others: dict[Any, Any] = {}
    for _ in range(20):
        server.handle_next_request()
        for request_id, body in replies():
            if request_id == GOOD_REQUEST_ID:
                assert body["errors"] == [], body
                return others
            check_reply(request_id, body)
            others[request_id] = body
    pytest.fail(f"the server stopped answering after {what}")


def assert_rejected_client_version(replies: dict[Any, Any]) -> None:
    (error,) = replies[5]["errors"]
    assert (error["code"], error["field"]) == ("INVALID", "meta.client_version"), error


# --- over Redis ---------------------------------------------------------------------------


@pytest.mark.parametrize("delivery", ["at_most_once", "at_least_once"])
def test_any_message_on_a_redis_queue_gets_a_typed_answer_or_none_and_serving_goes_on(
    redis_url: str, tracebacks: Tracebacks, delivery: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    transport = layer(redis_url, receive_timeout_in_seconds=0.05, delivery_guarantee=delivery)
    server = EchoServer({"transport": {"path": SERVER_TRANSPORT, "kwargs": transport}})
    good = msgpack.packb(
        {"request_id": GOOD_REQUEST_ID, "meta": {"reply_to": REPLY_TO}, "body": GOOD_JOB}
    )

    def replies() -> Iterator[tuple[Any, Any]]:
        while (item := client.lpop("pysoa:" + REPLY_TO)) is not None:
            _frame, envelope = read_message(item, MsgpackSerializer())
            yield envelope.request_id, envelope.body

    @FUZZ
    @given(redis_messages)
    def fuzz(data: bytes) -> None:
        client.delete("pysoa:service.echo", "pysoa:" + REPLY_TO)
        client.rpush("pysoa:service.echo", data, good)
        serve_until_answered(server, replies, repr(data[:200]))
        assert client.llen("pysoa:service.echo") == 0
        assert tracebacks.records == [], tracebacks.records[0].getMessage()

    try:
        fuzz()
    finally:
        assert server.transport is not None
        server.transport.close()
    if delivery == "at_least_once":
        assert client.keys("servicewire:service.echo:processing:*") == []


# --- over SQL -----------------------------------------------------------------------------

sql_payloads = st.binary(max_size=200) | st.builds(
    lambda meta, body: msgpack.packb({"meta": meta, "body": body}, use_bin_type=True),
    metas(),
    jobs,
)


def test_any_row_on_a_sql_queue_gets_a_typed_answer_or_none_and_serving_goes_on(
    tmp_path: Path, tracebacks: Tracebacks
) -> None:
    url = f"sqlite:///{tmp_path}/fuzz.db"
    kwargs = {"url": url, "receive_timeout_in_seconds": 0.05}
    server = EchoServer(
        {"transport": {"path": "servicewire.transport.sql:SqlServerTransport", "kwargs": kwargs}}
    )
    client = SqlClientTransport("echo", url=url)
    client.send_request_message(1, {}, GOOD_JOB)  # creates the tables
    server.handle_next_request()
    client.receive_response_message(5)
    database = open_database(url, "servicewire_")
    tables = database.tables
    fuzz_inbox = "fuzz-inbox"  # where the fuzzed rows' replies go: read from the table

    def replies() -> Iterator[tuple[Any, Any]]:
        for row in database.run(
            lambda connection: connection.execute(
                select(tables.replies.c.request_id, tables.replies.c.payload).where(
                    tables.replies.c.reply_to == fuzz_inbox
                )
            ).all()
        ):
            _meta, body = decode_payload(row.payload)
            yield row.request_id, body
        database.run(
            lambda connection: connection.execute(
                delete(tables.replies).where(tables.replies.c.reply_to == fuzz_inbox)
            )
        )
        try:
            message = client.receive_response_message(0.01)
        except MessageReceiveTimeout:
            return
        yield message.request_id, message.body

    @FUZZ
    @given(sql_payloads, st.integers(-5, 2**40))
    def fuzz(payload: bytes, request_id: int) -> None:
        now = database.now

        def queue(connection: Any) -> None:
            connection.execute(delete(tables.requests))
            connection.execute(
                insert(tables.requests).values(
                    service="echo",
                    request_id=request_id,
                    reply_to=fuzz_inbox,
                    payload=payload,
                    enqueued_at=now,
                    expires_at=now + 60,
                    visible_at=now,
                    attempts=0,
                )
            )

        database.run(queue)
        client.send_request_message(GOOD_REQUEST_ID, {}, GOOD_JOB)
        serve_until_answered(server, replies, repr(payload[:200]))
        assert tracebacks.records == [], tracebacks.records[0].getMessage()

    try:
        fuzz()
    finally:
        client.close()
        assert server.transport is not None
        server.transport.close()


# --- found by these tests: a malformed client_version once raised in the response path ------

MALFORMED_CLIENT_VERSIONS = [[None, "x"], ["1", 4, 9], [[1], 2]]


@pytest.mark.parametrize("client_version", MALFORMED_CLIENT_VERSIONS)
def test_a_malformed_client_version_is_answered_not_raised_over_redis(
    redis_url: str, tracebacks: Tracebacks, client_version: Any
) -> None:
    client = redis.Redis.from_url(redis_url)
    transport = layer(redis_url, receive_timeout_in_seconds=0.05)
    server = EchoServer({"transport": {"path": SERVER_TRANSPORT, "kwargs": transport}})
    meta = {"reply_to": REPLY_TO, "client_version": client_version}
    good = {"request_id": GOOD_REQUEST_ID, "meta": {"reply_to": REPLY_TO}, "body": GOOD_JOB}
    client.rpush(
        "pysoa:service.echo",
        msgpack.packb({"request_id": 5, "meta": meta, "body": GOOD_JOB}),
        msgpack.packb(good),
    )

    def replies() -> Iterator[tuple[Any, Any]]:
        while (item := client.lpop("pysoa:" + REPLY_TO)) is not None:
            _frame, envelope = read_message(item, MsgpackSerializer())
            yield envelope.request_id, envelope.body

    try:
        answered = serve_until_answered(server, replies, f"client_version {client_version!r}")
    finally:
        assert server.transport is not None
        server.transport.close()
    assert tracebacks.records == []
    assert_rejected_client_version(answered)


@pytest.mark.parametrize("client_version", MALFORMED_CLIENT_VERSIONS)
def test_a_malformed_client_version_is_answered_not_raised_over_sql(
    tmp_path: Path, tracebacks: Tracebacks, client_version: Any
) -> None:
    url = f"sqlite:///{tmp_path}/malformed.db"
    kwargs = {"url": url, "receive_timeout_in_seconds": 0.05}
    server = EchoServer(
        {"transport": {"path": "servicewire.transport.sql:SqlServerTransport", "kwargs": kwargs}}
    )
    client = SqlClientTransport("echo", url=url)
    client.send_request_message(5, {"client_version": client_version}, GOOD_JOB)
    client.send_request_message(GOOD_REQUEST_ID, {}, GOOD_JOB)

    def replies() -> Iterator[tuple[Any, Any]]:
        try:
            message = client.receive_response_message(0.01)
        except MessageReceiveTimeout:
            return
        yield message.request_id, message.body

    try:
        answered = serve_until_answered(server, replies, f"client_version {client_version!r}")
    finally:
        client.close()
        assert server.transport is not None
        server.transport.close()
    assert tracebacks.records == []
    assert_rejected_client_version(answered)
