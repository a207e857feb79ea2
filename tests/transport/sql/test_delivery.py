"""What every delivery mode shares: decoding a taken message, or failing it."""

from __future__ import annotations

import pytest

from servicewire.errors import InvalidMessageError
from servicewire.transport.sql.delivery import decode_held
from servicewire.transport.sql.envelope import encode_payload
from servicewire.transport.sql.schema import TakenMessage
from tests.support.metrics import RecordingMetrics
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.deliveries import JOB, delivery_context, server_settings


def _taken(payload: bytes) -> TakenMessage:
    return TakenMessage(7, 42, "caller!1", payload, 1, 1000.0, False)


def _refuse(message: TakenMessage, error: Exception) -> InvalidMessageError:
    return InvalidMessageError(f"refused {message.row_id}: {error}", request_id=42, meta=None)


def test_a_taken_message_is_decoded_with_its_reply_route(sqlite_database: SqlDatabase) -> None:
    payload = encode_payload(
        {"trace": "t"}, JOB, maximum_size=10_000, log_larger_than=10_000, description="a job"
    )
    with delivery_context(server_settings(sqlite_database)) as context:
        held = decode_held(_taken(payload), _refuse, context)

    assert held.meta == {"trace": "t", "reply_to": "caller!1"}
    assert held.body == JOB
    assert held.key == ("caller!1", 42)
    assert (held.reply, held.response) == (None, None)


def test_an_undecodable_message_is_counted_and_failed(sqlite_database: SqlDatabase) -> None:
    metrics = RecordingMetrics()
    with (
        delivery_context(server_settings(sqlite_database), metrics) as context,
        pytest.raises(InvalidMessageError, match="refused 7: ") as raised,
    ):
        decode_held(_taken(b"\xc1 not msgpack"), _refuse, context)

    assert raised.value.__cause__ is not None
    assert metrics.counts["sql.request.undecodable"] == 1
