"""Contracts: stubs are checked against the real actions they stand in for, when known."""

from __future__ import annotations

import contextlib

import pytest

from servicewire import CallActionError, Client
from servicewire.testing import ActionStub, StubContractError, contracts, stub_action
from tests.testing.services import USER_V2_SWITCH, UserServer, user


@pytest.fixture
def unconfigured_client() -> Client:
    """A client that reaches the users service through no local transport: only the
    registry can say what its real actions are."""
    return Client({})


GOOD_USER = {"user": user(1)}
DRIFTED_USER = {"user": {"_type": "user", "id": "1", "name": "Ada", "team": 7}}

DRIFT_MESSAGE = """\
The stub of users.get_user answered with a body that the real action rejects \
(GetUser.response_schema, in tests.testing.services:UserServer):
  - INVALID user.id: Input should be a valid integer
  - MISSING user.team_id: Field required
  - UNKNOWN user.team: Extra inputs are not permitted
The stub's body: {'user': {'_type': 'user', 'id': '1', 'name': 'Ada', 'team': 7}}
Fix the stub's body, or pass contract=False to stub_action if the difference is deliberate."""


def test_a_stub_answering_what_the_real_action_could_passes(client: Client) -> None:
    with stub_action("users", "get_user", body=GOOD_USER):
        assert client.call_action("users", "get_user", {"id": 1}).body == GOOD_USER


def test_a_drifting_stub_fails_naming_each_difference(client: Client) -> None:
    with pytest.raises(StubContractError) as raised:
        with stub_action("users", "get_user", body=DRIFTED_USER):
            client.call_action("users", "get_user", {"id": 1})
    assert str(raised.value) == DRIFT_MESSAGE


def test_a_registered_server_class_is_the_contract(unconfigured_client: Client) -> None:
    contracts.register("users", UserServer)
    with pytest.raises(StubContractError, match="Field required"):
        with stub_action("users", "get_user", body=DRIFTED_USER):
            unconfigured_client.call_action("users", "get_user", {"id": 1})


def test_a_registered_path_is_imported_when_first_needed(unconfigured_client: Client) -> None:
    contracts.register("users", "tests.testing.services:UserServer")
    assert contracts.registered() == {"users": "tests.testing.services:UserServer"}
    with pytest.raises(StubContractError, match="Field required"):
        with stub_action("users", "get_user", body=DRIFTED_USER):
            unconfigured_client.call_action("users", "get_user", {"id": 1})
    assert contracts.registered() == {"users": UserServer}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "tests.testing.nowhere:UserServer",
            "The server class registered for the contracts of service 'users' cannot be "
            "imported: Cannot import module 'tests.testing.nowhere'",
        ),
        (
            "tests.testing.services:user",
            "'tests.testing.services:user', registered for the contracts of service 'users', "
            "is not a Server class",
        ),
    ],
)
def test_a_registered_path_that_is_no_server_class_fails_clearly(
    unconfigured_client: Client, path: str, message: str
) -> None:
    contracts.register("users", path)
    with pytest.raises(StubContractError) as raised:
        with stub_action("users", "get_user", body=GOOD_USER):
            unconfigured_client.call_action("users", "get_user", {"id": 1})
    assert str(raised.value).startswith(message)


def test_a_request_the_real_action_refuses_gets_its_validation_errors(client: Client) -> None:
    with stub_action("users", "get_user", body=GOOD_USER) as stub:
        with pytest.raises(CallActionError) as raised:
            client.call_action("users", "get_user", {"id": "one", "extra": 1})
    assert [(e.code, e.field, e.is_caller_error) for e in raised.value.actions[0].errors] == [
        ("INVALID", "id", True),
        ("UNKNOWN", "extra", True),
    ]
    assert not stub.called


def test_a_stub_of_an_action_the_service_does_not_have_fails(client: Client) -> None:
    with pytest.raises(StubContractError) as raised:
        with stub_action("users", "get_usr", body=GOOD_USER):
            client.call_action("users", "get_usr")
    assert str(raised.value) == (
        "The stub of users.get_usr stands in for an action that the real service "
        "(tests.testing.services:UserServer) does not have (its actions: count_users, "
        "get_user, get_user_switched, list_users, refuse)"
    )


def test_built_in_actions_have_no_contract_to_check(client: Client) -> None:
    with stub_action("users", "status", body={"anything": "goes"}):
        assert client.call_action("users", "status").body == {"anything": "goes"}


def test_a_switched_action_is_checked_against_the_version_the_switches_select(
    client: Client,
) -> None:
    with stub_action("users", "get_user_switched", body=GOOD_USER):
        assert client.call_action("users", "get_user_switched", {"id": 1}).body == GOOD_USER
    with pytest.raises(StubContractError, match=r"GetUserV2\.response_schema[^$]*MISSING version"):
        with stub_action("users", "get_user_switched", body=GOOD_USER):
            client.call_action("users", "get_user_switched", {"id": 1}, switches=[USER_V2_SWITCH])


def test_contract_false_skips_the_check(client: Client) -> None:
    with stub_action("users", "get_user", body=DRIFTED_USER, contract=False):
        assert client.call_action("users", "get_user", {"id": "one"}).body == DRIFTED_USER


def test_the_references_switches_skip_the_request_or_the_response_check(
    client: Client,
) -> None:
    with stub_action(
        "users", "get_user", body=DRIFTED_USER, register_response_schema_contract=False
    ):
        assert client.call_action("users", "get_user", {"id": 1}).body == DRIFTED_USER
        with pytest.raises(CallActionError, match="INVALID"):
            client.call_action("users", "get_user", {"id": "one"})
    with stub_action("users", "get_user", body=GOOD_USER, register_request_schema_contract=False):
        assert client.call_action("users", "get_user", {"id": "one"}).body == GOOD_USER


def test_mode_off_skips_every_check(client: Client) -> None:
    contracts.mode = "off"
    with stub_action("users", "get_user", body=DRIFTED_USER):
        assert client.call_action("users", "get_user", {"id": 1}).body == DRIFTED_USER


def test_without_a_known_server_the_auto_mode_checks_nothing(unconfigured_client: Client) -> None:
    with stub_action("users", "get_user", body=DRIFTED_USER):
        assert unconfigured_client.call_action("users", "get_user").body == DRIFTED_USER


REQUIRED_MESSAGE = (
    "The stub of users.get_user requires a contract, but no server class is known for "
    "service 'users': register it with servicewire.testing.contracts.register('users', "
    "'your.module:YourServer') or the servicewire_contracts ini option, or pass "
    "contract=False to stub_action"
)


def test_a_stub_requiring_a_contract_fails_without_a_known_server(
    unconfigured_client: Client,
) -> None:
    with pytest.raises(StubContractError) as raised:
        with stub_action("users", "get_user", body=GOOD_USER, contract=True):
            unconfigured_client.call_action("users", "get_user", {"id": 1})
    assert str(raised.value) == REQUIRED_MESSAGE


def test_the_required_mode_requires_a_contract_of_every_stub(
    unconfigured_client: Client, client: Client
) -> None:
    contracts.mode = "required"
    with pytest.raises(StubContractError, match="requires a contract"):
        with stub_action("users", "get_user", body=GOOD_USER):
            unconfigured_client.call_action("users", "get_user", {"id": 1})
    with stub_action("users", "get_user", body=GOOD_USER):
        assert client.call_action("users", "get_user", {"id": 1}).body == GOOD_USER
    with stub_action("users", "get_user", body=DRIFTED_USER, contract=False):
        assert unconfigured_client.call_action("users", "get_user").body == DRIFTED_USER


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown contract mode 'strict': use one of auto"):
        contracts.mode = "strict"


def test_a_violation_the_code_under_test_swallows_fails_when_the_stub_stops(
    client: Client,
) -> None:
    def careless_lookup() -> None:
        with contextlib.suppress(Exception):
            client.call_action("users", "get_user", {"id": 1})

    with pytest.raises(StubContractError) as raised:
        with stub_action("users", "get_user", body=DRIFTED_USER) as stub:
            careless_lookup()
    assert str(raised.value) == (
        DRIFT_MESSAGE
        + "\n(Raised while the stub answered a call; the code under test did not let it "
        "through.)"
    )
    assert len(stub.contract_violations) == 1


def test_a_decorated_test_that_swallows_a_violation_fails_too(client: Client) -> None:
    @stub_action("users", "get_user", body=DRIFTED_USER)
    def careless_test(stub: ActionStub) -> None:
        with contextlib.suppress(StubContractError):
            client.call_action("users", "get_user", {"id": 1})

    with pytest.raises(StubContractError, match="the code under test did not let it through"):
        careless_test()


def test_the_registry_forgets_what_it_is_told_to() -> None:
    contracts.register("users", UserServer)
    contracts.register("teams", "tests.testing.services:TeamServer")
    contracts.unregister("users")
    contracts.unregister("nobody")
    assert contracts.registered() == {"teams": "tests.testing.services:TeamServer"}
    contracts.mode = "off"
    contracts.reset()
    assert (contracts.registered(), contracts.mode) == ({}, "auto")
