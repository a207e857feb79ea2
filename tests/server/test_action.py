"""Actions: request and response schemas, the validate hook, and what run may return."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import NotRequired, TypedDict

from servicewire import (
    Action,
    ActionError,
    ActionResponse,
    EnrichedActionRequest,
    Error,
    ResponseValidationError,
)
from servicewire.server.action import action_documentation


class Numbers(TypedDict):
    a: int
    b: NotRequired[int]


class Sum(TypedDict):
    total: int


class Add(Action):
    """Adds numbers."""

    request_schema = Numbers
    response_schema = Sum

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"total": request.body["a"] + request.body.get("b", 0)}


class Model(BaseModel):
    total: int


def request(body: dict[str, Any], action: str = "add") -> EnrichedActionRequest:
    return EnrichedActionRequest(action, body)


def test_a_valid_request_runs() -> None:
    assert Add()(request({"a": 1, "b": 2})) == ActionResponse("add", body={"total": 3})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, [("MISSING", "a")]),
        ({"a": "1"}, [("INVALID", "a")]),
        ({"a": 1, "c": 3}, [("UNKNOWN", "c")]),
        ({"a": True}, [("INVALID", "a")]),
        ({"b": "x", "c": 1}, [("MISSING", "a"), ("INVALID", "b"), ("UNKNOWN", "c")]),
    ],
)
def test_request_schema_errors_are_the_callers(
    body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(ActionError) as caught:
        Add()(request(body))
    assert [(e.code, e.field) for e in caught.value.errors] == expected
    assert all(e.is_caller_error for e in caught.value.errors)


def test_run_is_not_called_when_the_request_is_invalid() -> None:
    calls = []

    class Recorder(Add):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            calls.append(request)
            return {"total": 0}

    with pytest.raises(ActionError):
        Recorder()(request({}))
    assert calls == []


def test_validate_can_refuse_and_run_is_skipped() -> None:
    class Positive(Add):
        def validate(self, request: EnrichedActionRequest) -> None:
            if request.body["a"] < 0:
                raise ActionError([Error("NEGATIVE", "a must be positive", field="a")])

        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            raise AssertionError("run must not be called")

    with pytest.raises(ActionError) as caught:
        Positive()(request({"a": -1}))
    assert caught.value.errors == [
        Error("NEGATIVE", "a must be positive", "a", is_caller_error=True)
    ]


def test_a_response_failing_its_schema_raises_response_validation_error() -> None:
    class Broken(Add):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {"total": "three"}

    with pytest.raises(ResponseValidationError) as caught:
        Broken()(request({"a": 1}))
    assert caught.value.action == "add"
    assert [(e.code, e.field, e.is_caller_error) for e in caught.value.errors] == [
        ("INVALID", "total", False)
    ]


def test_a_response_with_unknown_keys_fails_its_schema() -> None:
    class Chatty(Add):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {"total": 1, "note": "hi"}

    with pytest.raises(ResponseValidationError):
        Chatty()(request({"a": 1}))


def test_run_may_return_a_pydantic_model() -> None:
    class ModelAdd(Action):
        response_schema = Model

        def run(self, request: EnrichedActionRequest) -> Model:
            return Model(total=5)

    assert ModelAdd()(request({})).body == {"total": 5}


def test_run_returning_none_gives_an_empty_body() -> None:
    class Nothing(Action):
        def run(self, request: EnrichedActionRequest) -> None:  # type: ignore[override]
            return None

    assert Nothing()(request({})).body == {}


def test_run_returning_a_non_dict_is_a_response_validation_error() -> None:
    class Listy(Action):
        def run(self, request: EnrichedActionRequest) -> Any:
            return [1, 2]

    with pytest.raises(ResponseValidationError, match="returned a list, not a dict"):
        Listy()(request({}))


def test_actions_without_schemas_accept_anything() -> None:
    class Echo(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return dict(request.body)

    assert Echo()(request({"x": [1, {"y": 2}]})).body == {"x": [1, {"y": 2}]}


def test_the_request_body_stays_a_plain_dict() -> None:
    seen = []

    class Look(Add):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            seen.append(request.body)
            return {"total": 0}

    body = {"a": 1}
    Look()(request(body))
    assert seen == [body]
    assert type(seen[0]) is dict


def test_the_settings_are_kept() -> None:
    settings = object()
    assert Add(settings).settings is settings  # type: ignore[arg-type]


def test_documentation_comes_from_description_then_docstring() -> None:
    class Described(Action):
        """Docstring."""

        description = "Description."

        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {}

    class Undocumented(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {}

    assert action_documentation(Described) == "Description."
    assert action_documentation(Add) == "Adds numbers."
    assert action_documentation(Undocumented) is None
