"""The step where a message enters the server: any delivered message gives one typed
request object, decided once."""

from __future__ import annotations

from typing import Any

import pytest

from servicewire.server.received import OLDEST_CLIENT_VERSION, parse_request
from servicewire.types import ActionRequest, JobRequest


def job(**control: Any) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False, **control},
        "context": {"correlation_id": "cid", "switches": [2], "extra": "kept"},
        "actions": [{"action": "echo", "body": {"x": 1}}, {"action": "ping"}],
    }


def test_a_valid_message_becomes_a_typed_job_with_its_reply_and_version_decided() -> None:
    request = parse_request(5, {"client_version": [1, 4, 9]}, job())
    assert request.job == JobRequest(
        control={"continue_on_error": False},
        context={"correlation_id": "cid", "switches": [2], "extra": "kept"},
        actions=[ActionRequest("echo", {"x": 1}), ActionRequest("ping", {})],
    )
    assert request.errors == []
    assert request.expects_reply is True
    assert request.client_version == (1, 4, 9)
    assert request.correlation_id == "cid"
    assert request.bad_meta is None


def test_suppress_response_means_no_reply_is_expected() -> None:
    assert parse_request(1, {}, job(suppress_response=True)).expects_reply is False
    assert parse_request(1, {}, job(suppress_response=False)).expects_reply is True


def test_a_caller_naming_no_version_is_taken_for_the_oldest() -> None:
    assert parse_request(1, {}, job()).client_version == OLDEST_CLIENT_VERSION


def test_an_invalid_job_carries_its_errors_and_no_job() -> None:
    body = job()
    body["actions"] = []
    request = parse_request(1, {}, body)
    assert request.job is None
    assert [(error.code, error.field) for error in request.errors] == [("INVALID", "actions")]
    assert request.correlation_id == "cid"


def test_a_body_that_is_not_a_job_still_gives_a_request() -> None:
    request = parse_request(1, {}, ["not", "a", "job"])
    assert request.job is None
    assert request.errors
    assert request.expects_reply is True
    assert request.correlation_id is None


@pytest.mark.parametrize(
    "client_version",
    [[None, 1], [1, "4", 9], [1.0, 4, 9], [True, 0], [], "1.4.9", 149, {"major": 1}],
)
def test_a_malformed_client_version_rejects_the_request_with_a_typed_error(
    client_version: Any,
) -> None:
    request = parse_request(8, {"client_version": client_version}, job())
    assert request.job is None
    [error] = request.errors
    assert (error.code, error.field, error.is_caller_error) == (
        "INVALID",
        "meta.client_version",
        False,
    )
    assert request.bad_meta is not None
    assert "client_version must be a list of integers" in request.bad_meta
    assert request.client_version == OLDEST_CLIENT_VERSION
    assert request.expects_reply is True


def test_a_rejected_request_still_knows_its_caller_asked_for_no_reply() -> None:
    request = parse_request(8, {"client_version": ["x"]}, job(suppress_response=True))
    assert request.job is None
    assert request.expects_reply is False


def test_the_request_object_is_frozen() -> None:
    request = parse_request(1, {}, job())
    with pytest.raises(AttributeError):
        request.expects_reply = False  # type: ignore[misc]
