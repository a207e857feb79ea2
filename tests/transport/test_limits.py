"""The size limits shared by the serializing transports: the error over the maximum, and the
censored, bounded log line over the logging threshold."""

from __future__ import annotations

import logging

import pytest

from servicewire.errors import MessageTooLarge
from servicewire.transport.limits import check_message_size

LOGGER = "servicewire.transport.oversized_message"


def test_a_message_over_the_maximum_raises_naming_its_size_and_the_limit() -> None:
    with pytest.raises(MessageTooLarge, match="is 2000 bytes, over the limit of 1000 bytes"):
        check_message_size(2000, 1000, 0, "request 1 to service 'x'", {})


def test_a_huge_message_is_logged_by_its_beginning_censored_and_cut(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = {
        "request_id": 7,
        "body": {"password": "hunter2", "data": "d" * 2**20, "after": "tail-marker"},
    }
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        check_message_size(2**20, 2**22, 1000, "response 7 of service 'x'", message)
    [record] = caplog.records
    line = record.getMessage()
    assert line.startswith("Oversized message: the response 7 of service 'x' is 1048576 bytes")
    assert "'request_id': 7" in line
    assert "hunter2" not in line
    assert line.endswith("... (cut)")
    assert len(line) < 2200


def test_a_message_under_the_threshold_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        check_message_size(999, 2000, 1000, "request 1", {"a": 1})
    assert caplog.records == []
