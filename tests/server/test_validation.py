"""Job request validation and schema validation, in the wire's error terms."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import NotRequired, TypedDict

from servicewire import Error
from servicewire.server.validation import (
    SchemaValidator,
    _job_adapter,
    parse_job_request,
    validator_for,
    well_formed_job,
)
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


# --- the hand-checked envelope agrees with pydantic's ------------------------------------

# Values of every type the envelope's fields may be given.
_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_KEYS = st.one_of(
    st.sampled_from(["x", "timeout", "caller", "__pydantic_extra__"]),
    st.text(max_size=3),
    st.integers(min_value=0, max_value=3),
)


def _envelopes(percent_bad: int) -> st.SearchStrategy[Any]:
    """Job envelopes where each part has ``percent_bad`` chances in a hundred of being
    wrong (missing, of another type, an unknown key): a few percent give envelopes that are
    mostly valid, more give mostly invalid ones."""

    def either(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.integers(min_value=1, max_value=100).flatmap(
            lambda roll: bad if roll <= percent_bad else good
        )

    def field(name: str, good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return either(
            good.map(lambda value: [(name, value)]),
            st.one_of(st.just([]), _ANY_VALUE.map(lambda value: [(name, value)])),
        )

    def header(declared: dict[str, st.SearchStrategy[Any]], optional: set[str]) -> Any:
        # Each declared field (an optional one left out half the time), plus other keys,
        # in any order; sometimes not a dict at all.
        parts = [
            st.one_of(st.just([]), field(name, good)) if name in optional else field(name, good)
            for name, good in declared.items()
        ]
        parts.append(st.lists(st.tuples(either(_TEXT, _KEYS), _ANY_VALUE), max_size=2))
        pairs = st.tuples(*parts).flatmap(
            lambda chosen: st.permutations([pair for part in chosen for pair in part])
        )
        return either(pairs.map(dict), _ANY_VALUE)

    body = st.dictionaries(either(_TEXT, st.integers()), _ANY_VALUE, max_size=3)
    action = either(
        st.fixed_dictionaries(
            {"action": either(_TEXT, _ANY_VALUE)},
            optional={"body": either(body, _ANY_VALUE)},
        ).flatmap(
            lambda good: either(
                st.just(good), _ANY_VALUE.map(lambda value: {**good, "bodyy": value})
            )
        ),
        _ANY_VALUE,
    )
    envelope = st.fixed_dictionaries(
        {
            "control": header(
                {"continue_on_error": st.booleans(), "suppress_response": st.booleans()},
                {"suppress_response"},
            ),
            "context": header(
                {
                    "correlation_id": _TEXT,
                    "switches": st.lists(either(_INTEGERS, _ANY_VALUE), max_size=3),
                    "caller": _TEXT,
                    "calling_service": _TEXT,
                },
                {"caller", "calling_service"},
            ),
            "actions": either(st.lists(action, min_size=1, max_size=3), _ANY_VALUE),
        }
    )
    return either(
        envelope.flatmap(
            lambda good: either(
                st.just(good), _ANY_VALUE.map(lambda value: {**good, "extra": value})
            )
        ),
        _ANY_VALUE,
    )


_TEXT = st.text(max_size=4)
_INTEGERS = st.integers(min_value=-(2**70), max_value=2**70)


def _shape(value: Any) -> Any:
    """A value with its key order and container identities spelled out."""
    if isinstance(value, dict):
        return ("dict", [(key, _shape(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [_shape(item) for item in value])
    return (type(value), value)


@given(st.one_of(_envelopes(percent_bad=0), _envelopes(percent_bad=3), _envelopes(percent_bad=25)))
@settings(max_examples=1000, deadline=None)
def test_the_fast_path_builds_what_pydantic_builds_or_leaves_it_to_pydantic(
    envelope: Any,
) -> None:
    by_hand = well_formed_job(envelope)
    try:
        by_pydantic = _job_adapter.validate_python(envelope, strict=True)
    except ValidationError:
        assert by_hand is None
        return
    if by_hand is None:
        return
    assert _shape(by_hand.control) == _shape(by_pydantic.control)
    assert _shape(by_hand.context) == _shape(by_pydantic.context)
    assert [(action.action, _shape(action.body)) for action in by_hand.actions] == [
        (action.action, _shape(action.body)) for action in by_pydantic.actions
    ]
    # Copies, as pydantic's are: the server may change them without touching the caller's.
    assert by_hand.control is not envelope["control"]
    assert by_hand.context is not envelope["context"]
    assert by_hand.context["switches"] is not envelope["context"]["switches"]
    for action, given_action in zip(by_hand.actions, envelope["actions"], strict=True):
        assert action.body is not given_action.get("body")


def test_the_envelopes_clients_send_take_the_fast_path() -> None:
    sent = job(
        control={"continue_on_error": False, "suppress_response": False, "timeout": 5},
        context={"correlation_id": "c", "caller": "x.py:1 in f", "switches": [3], "user": 1},
        actions=[{"action": "ping", "body": {"value": 1}}, {"action": "pong"}],
    )
    parsed = well_formed_job(sent)
    assert parsed is not None
    assert list(parsed.context) == ["correlation_id", "switches", "caller", "user"]
    assert parsed == _job_adapter.validate_python(sent, strict=True)


def test_an_extra_key_pydantic_refuses_is_left_to_it() -> None:
    # A lone surrogate is a str, but not one pydantic can read as a header's key.
    sent = job(context={"correlation_id": "c", "switches": [], "\ud800": 1})
    assert well_formed_job(sent) is None
    assert codes_and_fields(parse_job_request(sent)) == [("INVALID", "context")]
