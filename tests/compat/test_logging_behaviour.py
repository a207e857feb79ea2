"""PySOA's push-and-pop log context methods, on servicewire's log context filter."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator

import pytest

import servicewire.logging as servicewire_logging
from servicewire.logging import LogContextFilter, log_context


def fields(record_filter: LogContextFilter) -> tuple[object, object, object, object]:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, "message", None, None)
    assert record_filter.filter(record)
    return (record.service_name, record.correlation_id, record.request_id, record.action_name)  # type: ignore[attr-defined]


@pytest.fixture
def record_filter() -> Iterator[LogContextFilter]:
    yield LogContextFilter()
    servicewire_logging._default_service_name = None


def test_pushed_request_contexts_nest_and_pop_in_order(record_filter: LogContextFilter) -> None:
    assert LogContextFilter.get_logging_request_context() is None
    LogContextFilter.set_logging_request_context(correlation_id="outer", request_id=1)
    LogContextFilter.set_logging_request_context(correlation_id="inner", request_id=2, extra="x")
    assert LogContextFilter.get_logging_request_context() == {
        "correlation_id": "inner",
        "request_id": 2,
        "extra": "x",
    }
    assert fields(record_filter)[1:3] == ("inner", 2)
    LogContextFilter.clear_logging_request_context()
    assert fields(record_filter)[1:3] == ("outer", 1)
    LogContextFilter.clear_logging_request_context()
    assert fields(record_filter) == ("--", "--", "--", "--")
    LogContextFilter.clear_logging_request_context()  # one pop too many is harmless
    assert LogContextFilter.get_logging_request_context() is None


def test_action_names_push_inside_a_request_context(record_filter: LogContextFilter) -> None:
    LogContextFilter.set_logging_request_context(correlation_id="c", request_id=7)
    LogContextFilter.set_logging_action_name("get_user")
    assert LogContextFilter.get_logging_action_name() == "get_user"
    assert fields(record_filter)[1:] == ("c", 7, "get_user")
    LogContextFilter.clear_logging_action_name()
    assert LogContextFilter.get_logging_action_name() is None
    assert fields(record_filter)[1:] == ("c", 7, "--")
    LogContextFilter.clear_logging_request_context()
    assert LogContextFilter.get_logging_request_context() is None


def test_the_service_name_set_once_is_logged_where_no_context_names_one(
    record_filter: LogContextFilter,
) -> None:
    LogContextFilter.set_service_name("users")
    assert fields(record_filter)[0] == "users"
    with log_context(service_name="billing"):
        assert fields(record_filter)[0] == "billing"


def test_a_copied_context_cannot_pop_what_its_parent_pushed(
    record_filter: LogContextFilter,
) -> None:
    LogContextFilter.set_logging_request_context(correlation_id="parent", request_id=1)
    contextvars.copy_context().run(LogContextFilter.clear_logging_request_context)
    assert fields(record_filter)[1] == "parent"
    LogContextFilter.clear_logging_request_context()
