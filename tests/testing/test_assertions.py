"""The raises_* context managers: they pass when the call fails as expected, and otherwise
fail saying what was expected, what is missing or unexpected, and what came back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servicewire import CallJobError, Client, Error, JobError
from servicewire.testing import (
    local_client,
    raises_call_action_error,
    raises_error_codes,
    raises_field_errors,
    raises_only_error_codes,
    raises_only_field_errors,
    stub_action,
)
from tests.testing.services import UserServer


@pytest.fixture
def client() -> Iterator[Client]:
    client = local_client(UserServer)
    yield client
    client.close()


def bad_request(client: Client) -> None:
    """Fails with INVALID on id and UNKNOWN on extra."""
    client.call_action("users", "get_user", {"id": "one", "extra": 1})


THE_ERRORS = """\
The call failed with:
  - get_user: INVALID (field id): Input should be a valid integer
  - get_user: UNKNOWN (field extra): Extra inputs are not permitted"""


def failure(block: object) -> str:
    """The message of the AssertionError a failing assertion raised."""
    assert isinstance(block, pytest.ExceptionInfo)
    return str(block.value)


# --- raises_call_action_error -------------------------------------------------------------


def test_raises_call_action_error_gives_the_error_and_its_errors(client: Client) -> None:
    with raises_call_action_error() as info:
        bad_request(client)
    assert info.value is not None
    assert [action.action for action in info.actions] == ["get_user"]
    assert [(error.code, error.field) for error in info.errors] == [
        ("INVALID", "id"),
        ("UNKNOWN", "extra"),
    ]


def test_raises_call_action_error_fails_when_nothing_is_raised(client: Client) -> None:
    with pytest.raises(AssertionError) as raised, raises_call_action_error():
        client.call_action("users", "list_users")
    assert failure(raised) == "Expected the call to fail, but it raised nothing"


def test_raises_call_action_error_matches_the_errors_text(client: Client) -> None:
    with raises_call_action_error(match=r"UNKNOWN: Extra inputs"):
        bad_request(client)
    with pytest.raises(AssertionError) as raised, raises_call_action_error(match="MISSING"):
        bad_request(client)
    assert failure(raised) == (
        "The call failed, but its CallActionError does not match 'MISSING':\n"
        + THE_ERRORS.split("\n", 1)[1]
    )


def test_other_errors_go_through_untouched(client: Client) -> None:
    with stub_action("users", "list_users", side_effect=JobError([Error("DOWN", "down")])):
        with pytest.raises(CallJobError), raises_error_codes("DOWN"):
            client.call_action("users", "list_users")


# --- error codes --------------------------------------------------------------------------


@pytest.mark.parametrize("codes", ["INVALID", ["INVALID"], ("UNKNOWN", "INVALID")])
def test_raises_error_codes_passes_when_each_code_is_there(client: Client, codes: object) -> None:
    with raises_error_codes(codes) as info:  # type: ignore[arg-type]
        bad_request(client)
    assert len(info.errors) == 2


def test_raises_error_codes_names_the_missing_codes(client: Client) -> None:
    with pytest.raises(AssertionError) as raised, raises_error_codes(["INVALID", "NOT_FOUND"]):
        bad_request(client)
    assert failure(raised) == (
        "Expected the call to fail with error codes INVALID, NOT_FOUND.\n"
        "Missing: NOT_FOUND\n" + THE_ERRORS
    )


def test_raises_error_codes_fails_when_nothing_is_raised(client: Client) -> None:
    with pytest.raises(AssertionError) as raised, raises_error_codes("INVALID"):
        client.call_action("users", "list_users")
    assert failure(raised) == (
        "Expected the call to fail with error codes INVALID, but it raised nothing"
    )


def test_only_error_codes_names_the_unexpected_errors(client: Client) -> None:
    with pytest.raises(AssertionError) as raised, raises_only_error_codes("INVALID"):
        bad_request(client)
    assert failure(raised) == (
        "Expected the call to fail with error codes INVALID (and no others).\n"
        "Unexpected: UNKNOWN (field extra)\n" + THE_ERRORS
    )
    with pytest.raises(AssertionError, match="Unexpected: UNKNOWN"):
        with raises_error_codes("INVALID", only=True):
            bad_request(client)


def test_only_error_codes_passes_with_exactly_those_codes(client: Client) -> None:
    with raises_only_error_codes(["INVALID", "UNKNOWN"]):
        bad_request(client)


def test_missing_and_unexpected_are_both_listed(client: Client) -> None:
    with pytest.raises(AssertionError) as raised, raises_only_error_codes("NOT_FOUND"):
        bad_request(client)
    assert failure(raised) == (
        "Expected the call to fail with error codes NOT_FOUND (and no others).\n"
        "Missing: NOT_FOUND\n"
        "Unexpected: INVALID (field id), UNKNOWN (field extra)\n" + THE_ERRORS
    )


# --- field errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"id": "INVALID"}, {"id": ["INVALID"], "extra": "UNKNOWN"}],
)
def test_raises_field_errors_passes_when_each_field_has_its_code(
    client: Client, fields: dict[str, object]
) -> None:
    with raises_field_errors(fields):  # type: ignore[arg-type]
        bad_request(client)


def test_raises_field_errors_names_the_missing_field_errors(client: Client) -> None:
    with pytest.raises(AssertionError) as raised:
        with raises_field_errors({"id": "MISSING", "extra": "UNKNOWN", "name": "INVALID"}):
            bad_request(client)
    assert failure(raised) == (
        "Expected the call to fail with field errors id: MISSING, extra: UNKNOWN, "
        "name: INVALID.\n"
        "Missing: id: MISSING, name: INVALID\n" + THE_ERRORS
    )


def test_only_field_errors_names_the_unexpected_errors(client: Client) -> None:
    with pytest.raises(AssertionError) as raised, raises_only_field_errors({"id": "INVALID"}):
        bad_request(client)
    assert failure(raised) == (
        "Expected the call to fail with field errors id: INVALID (and no others).\n"
        "Unexpected: UNKNOWN (field extra)\n" + THE_ERRORS
    )
    with pytest.raises(AssertionError, match="Unexpected: UNKNOWN"):
        with raises_field_errors({"id": "INVALID"}, only=True):
            bad_request(client)


def test_only_field_errors_passes_with_exactly_those_errors(client: Client) -> None:
    with raises_only_field_errors({"id": "INVALID", "extra": ["UNKNOWN"]}):
        bad_request(client)


def test_a_field_error_must_be_on_its_field(client: Client) -> None:
    with pytest.raises(AssertionError, match="Missing: extra: INVALID"):
        with raises_field_errors({"extra": "INVALID"}):
            bad_request(client)


# --- pytest.raises' keyword arguments -----------------------------------------------------


def test_raises_takes_pytest_raises_check(client: Client) -> None:
    with raises_error_codes("INVALID", check=lambda error: len(error.actions) == 1) as info:
        bad_request(client)
    assert [e.code for e in info.soa_errors] == ["INVALID", "UNKNOWN"]
    with pytest.raises(AssertionError, match="is false for its CallActionError"):
        with raises_field_errors({"id": "INVALID"}, check=lambda error: False):
            bad_request(client)


def test_raises_refuses_other_keyword_arguments_by_name() -> None:
    with pytest.raises(TypeError, match="Unexpected keyword argument\\(s\\) expected_exception"):
        with raises_only_error_codes("X", expected_exception=KeyError):
            pass
