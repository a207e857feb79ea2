"""Job request validation and schema validation, in the wire's error terms."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import NotRequired, TypedDict

from servicewire import Error
from servicewire.server.validation import SchemaValidator, parse_job_request, validator_for
from servicewire.types import ActionRequest, JobRequest


def job(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "abc", "switches": []},
        "actions": [{"action": "ping", "body": {}}],
    }
    request.update(overrides)
    return request


def test_a_valid_job_is_validated_into_a_job_request() -> None:
    parsed = parse_job_request(job())
    assert isinstance(parsed, JobRequest)
    assert parsed.actions[0].action == job()["actions"][0]["action"]


def test_extra_keys_are_allowed_in_control_and_context() -> None:
    parsed = parse_job_request(
        job(
            control={"continue_on_error": True, "suppress_response": True, "timeout": 5},
            context={
                "correlation_id": "c",
                "switches": [1, 2],
                "caller": "me",
                "calling_service": "other",
                "anything": {"x": 1},
            },
        )
    )
    assert isinstance(parsed, JobRequest)
    assert parsed.control["timeout"] == 5
    assert parsed.context["anything"] == {"x": 1}


def test_the_action_body_is_optional() -> None:
    parsed = parse_job_request(job(actions=[{"action": "ping"}]))
    assert isinstance(parsed, JobRequest)
    assert parsed.actions == [ActionRequest("ping", {})]


def codes_and_fields(errors: list[Error] | JobRequest) -> list[tuple[str, str | None]]:
    assert isinstance(errors, list)
    return [(error.code, error.field) for error in errors]


@pytest.mark.parametrize(
    ("request_dict", "expected"),
    [
        (job(control={}), [("MISSING", "control.continue_on_error")]),
        (job(control={"continue_on_error": "no"}), [("INVALID", "control.continue_on_error")]),
        (
            job(control={"continue_on_error": False, "suppress_response": 1}),
            [("INVALID", "control.suppress_response")],
        ),
        (job(context={"switches": []}), [("MISSING", "context.correlation_id")]),
        (job(context={"correlation_id": "c"}), [("MISSING", "context.switches")]),
        (
            job(context={"correlation_id": 5, "switches": []}),
            [("INVALID", "context.correlation_id")],
        ),
        (
            job(context={"correlation_id": "c", "switches": ["1"]}),
            [("INVALID", "context.switches.0")],
        ),
        (
            job(context={"correlation_id": "c", "switches": [True]}),
            [("INVALID", "context.switches.0")],
        ),
        (
            job(context={"correlation_id": "c", "switches": [], "caller": 1}),
            [("INVALID", "context.caller")],
        ),
        (job(actions=[]), [("INVALID", "actions")]),
        (job(actions=[{"body": {}}]), [("MISSING", "actions.0.action")]),
        (job(actions=[{"action": 1}]), [("INVALID", "actions.0.action")]),
        (job(actions=[{"action": "a", "body": []}]), [("INVALID", "actions.0.body")]),
        (job(actions=[{"action": "a", "bodyy": {}}]), [("UNKNOWN", "actions.0.bodyy")]),
        (job(actions="ping"), [("INVALID", "actions")]),
        (job(extra=1), [("UNKNOWN", "extra")]),
        (
            {"actions": [{"action": "a"}]},
            [("MISSING", "control"), ("MISSING", "context")],
        ),
        ([], [("INVALID", None)]),
        ("job", [("INVALID", None)]),
    ],
)
def test_each_problem_is_one_error_with_code_and_dotted_field(
    request_dict: Any, expected: list[tuple[str, str | None]]
) -> None:
    errors = parse_job_request(request_dict)
    assert codes_and_fields(errors) == expected
    assert isinstance(errors, list)
    assert all(error.is_caller_error is False for error in errors)
    assert all(error.message for error in errors)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)
    addresses: list[Address] = []


class OpenPerson(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class PersonDict(TypedDict):
    name: str
    tags: NotRequired[list[str]]


class Wrapper(TypedDict):
    person: PersonDict


def problems(schema: Any, value: Any) -> list[tuple[str, str]]:
    from pydantic import ValidationError

    from servicewire.server.validation import errors_from_validation

    try:
        SchemaValidator(schema).validate(value)
    except ValidationError as error:
        return [
            (e.code, e.field or "") for e in errors_from_validation(error, is_caller_error=True)
        ]
    return []


def test_models_reject_unknown_keys_unless_they_allow_them() -> None:
    assert problems(Person, {"name": "a", "age": 1, "x": 1}) == [("UNKNOWN", "x")]
    assert problems(OpenPerson, {"name": "a", "x": 1}) == []


def test_validation_is_strict() -> None:
    assert problems(Person, {"name": "a", "age": "1"}) == [("INVALID", "age")]
    assert problems(Person, {"name": 1, "age": 1}) == [("INVALID", "name")]


def test_nested_paths_are_dotted() -> None:
    assert problems(Person, {"name": "a", "age": -1, "addresses": [{"city": "x"}, {}]}) == [
        ("INVALID", "age"),
        ("MISSING", "addresses.1.city"),
    ]


def test_typed_dicts_reject_unknown_keys_even_nested() -> None:
    assert problems(Wrapper, {"person": {"name": "a"}}) == []
    assert problems(Wrapper, {"person": {"name": "a", "x": 1}, "y": 2}) == [
        ("UNKNOWN", "person.x"),
        ("UNKNOWN", "y"),
    ]
    assert problems(Wrapper, {"person": {"tags": ["a", 2]}}) == [
        ("MISSING", "person.name"),
        ("INVALID", "person.tags.1"),
    ]


def test_the_users_schema_class_is_not_modified() -> None:
    SchemaValidator(Person)
    SchemaValidator(PersonDict)
    assert Person.model_config.get("extra") is None
    assert "__pydantic_config__" not in PersonDict.__dict__


def test_validators_are_shared_per_schema() -> None:
    assert validator_for(Person) is validator_for(Person)


def test_a_prefix_is_prepended_to_fields() -> None:
    from pydantic import ValidationError

    from servicewire.server.validation import errors_from_validation

    with pytest.raises(ValidationError) as caught:
        SchemaValidator(Person).validate({"age": 1})
    errors = errors_from_validation(caught.value, is_caller_error=False, prefix="body")
    assert [(e.code, e.field, e.is_caller_error) for e in errors] == [
        ("MISSING", "body.name", False)
    ]


def test_json_schema_forbids_extra_keys() -> None:
    assert SchemaValidator(PersonDict).json_schema()["additionalProperties"] is False
