"""Job and action requests and responses, errors, and their wire dicts."""

from __future__ import annotations

import dataclasses

import pytest

from servicewire import ActionRequest, ActionResponse, Error, JobRequest, JobResponse

FULL_ERROR = {
    "code": "INVALID",
    "message": "Not a number",
    "field": "body.number",
    "traceback": "Traceback...",
    "variables": {"x": "1"},
    "denied_permissions": ["admin"],
    "is_caller_error": True,
}


def test_error_defaults_match_the_reference() -> None:
    error = Error(code="SERVER_ERROR", message="boom")
    assert error.field is None
    assert error.traceback is None
    assert error.variables is None
    assert error.denied_permissions is None
    assert error.is_caller_error is False


def test_error_to_dict_carries_every_key() -> None:
    assert Error(**FULL_ERROR).to_dict() == FULL_ERROR
    assert set(Error(code="A", message="b").to_dict()) == set(FULL_ERROR)


def test_error_from_dict_round_trips() -> None:
    assert Error.from_dict(FULL_ERROR) == Error(**FULL_ERROR)


def test_error_from_dict_of_an_old_peer_fills_defaults() -> None:
    error = Error.from_dict({"code": "UNKNOWN", "message": "m", "field": "action"})
    assert error == Error(code="UNKNOWN", message="m", field="action")


def test_errors_are_immutable_and_hashable() -> None:
    error = Error(code="A", message="b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.code = "C"  # type: ignore[misc]
    assert {error: 1}[Error(code="A", message="b")] == 1


def test_action_request_defaults_to_an_empty_body() -> None:
    assert ActionRequest("ping").body == {}
    assert ActionRequest("ping").to_dict() == {"action": "ping", "body": {}}


def test_action_request_from_dict_accepts_a_missing_or_null_body() -> None:
    assert ActionRequest.from_dict({"action": "a"}) == ActionRequest("a", {})
    assert ActionRequest.from_dict({"action": "a", "body": None}) == ActionRequest("a", {})


def test_action_request_does_not_copy_the_body() -> None:
    body = {"x": 1}
    assert ActionRequest("a", body).to_dict()["body"] is body


def test_action_response_round_trip_with_errors() -> None:
    response = ActionResponse("a", errors=[Error(**FULL_ERROR)], body={"k": 1})
    wire = response.to_dict()
    assert wire == {"action": "a", "errors": [FULL_ERROR], "body": {"k": 1}}
    assert ActionResponse.from_dict(wire) == response


def test_action_response_from_dict_tolerates_missing_errors_and_body() -> None:
    assert ActionResponse.from_dict({"action": "a"}) == ActionResponse("a")


def test_job_request_round_trip() -> None:
    job = JobRequest(
        control={"continue_on_error": False},
        context={"correlation_id": "c", "switches": [1]},
        actions=[ActionRequest("a", {"x": 1}), ActionRequest("b")],
    )
    wire = job.to_dict()
    assert wire == {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c", "switches": [1]},
        "actions": [{"action": "a", "body": {"x": 1}}, {"action": "b", "body": {}}],
    }
    assert JobRequest.from_dict(wire) == job


def test_job_request_from_dict_keeps_action_request_objects() -> None:
    action = ActionRequest("a")
    assert JobRequest.from_dict({"actions": [action]}).actions[0] is action


def test_job_response_round_trip() -> None:
    response = JobResponse(
        errors=[Error(code="JOB", message="j")],
        context={"correlation_id": "c"},
        actions=[ActionResponse("a", body={"v": 1}), ActionResponse("b", [Error("X", "y")])],
    )
    assert JobResponse.from_dict(response.to_dict()) == response


def test_job_response_defaults_are_empty_and_not_shared() -> None:
    first, second = JobResponse(), JobResponse()
    first.actions.append(ActionResponse("a"))
    assert second.actions == []
    assert first.errors == []
    assert first.context == {}


def test_types_are_slotted() -> None:
    for value in (
        Error("a", "b"),
        ActionRequest("a"),
        ActionResponse("a"),
        JobRequest(),
        JobResponse(),
    ):
        assert not hasattr(value, "__dict__")
