"""The reply path: a response encoded for the reply table, then written."""

from __future__ import annotations

import logging

import pytest

from servicewire import MetricName
from servicewire.errors import MessageTooLarge
from servicewire.transport.sql.envelope import decode_payload
from servicewire.transport.sql.reply_path import ReplyPath
from tests.support.metrics import RecordingMetrics
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.deliveries import delivery_context, server_settings

ANSWER = {"actions": [{"action": "echo", "body": {"x": 1}}], "errors": []}


def test_a_response_is_written_for_its_caller_and_its_size_recorded(
    database: SqlDatabase,
) -> None:
    metrics = RecordingMetrics()
    with delivery_context(server_settings(database), metrics) as context:
        path = ReplyPath(context)

        reply = path.encode(5, {"reply_to": "caller!1"}, ANSWER)
        assert reply is not None
        path.write(reply)

        (row,) = context.database.run(lambda c: context.replies.take_all(c, "caller!1"))
        assert row.request_id == 5
        assert decode_payload(row.payload)[1] == ANSWER
        ((size, tags),) = metrics.recorded("histogram", MetricName.TRANSPORT_RESPONSE_SIZE)
        assert (size, tags) == (len(row.payload), {"service": "recorder"})


def test_a_response_to_a_request_without_reply_to_is_dropped_with_a_warning(
    sqlite_database: SqlDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with delivery_context(server_settings(sqlite_database)) as context:
        with caplog.at_level(logging.WARNING, "servicewire.transport.sql"):
            assert ReplyPath(context).encode(5, {}, ANSWER) is None

    assert "request 5 of service 'recorder': the request names no reply_to" in caplog.text


def test_a_response_over_the_size_limit_raises_message_too_large(
    sqlite_database: SqlDatabase,
) -> None:
    settings = server_settings(sqlite_database, maximum_message_size_in_bytes=64)
    with delivery_context(settings) as context, pytest.raises(MessageTooLarge):
        ReplyPath(context).encode(5, {"reply_to": "caller!1"}, {"big": "x" * 100})
