"""ServerTestCase and PyTestServerTestCase: a service under test, called through self.client,
with assertions about the errors of its actions."""

from __future__ import annotations

import unittest
from typing import Any, ClassVar

import pytest

from servicewire import Error
from servicewire.testing import (
    ActionStub,
    BaseServerTestCase,
    PyTestServerTestCase,
    ServerTestCase,
    UnitTestServerTestCase,
    stub_action,
)
from servicewire.testing.cases import transportless_settings
from tests.testing.services import UserServer

TORN_DOWN: list[str] = []

# Settings whose transport cannot be built: the test cases must never build it.
# (The cases below are run by the tests that follow them, not collected: some fail on
# purpose.)
UNBUILDABLE_SETTINGS = {"transport": {"path": "tests.testing.nowhere:Transport"}}


class TrackedUserServer(UserServer):
    def teardown(self) -> None:
        TORN_DOWN.append(self.service_name)
        super().teardown()


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def failure_messages(result: unittest.TestResult) -> list[str]:
    return [traceback.strip().splitlines()[-1] for _, traceback in result.failures]


# --- unittest -----------------------------------------------------------------------------


class PassingUsersCase(ServerTestCase):
    __test__ = False
    server_class = TrackedUserServer
    server_settings: ClassVar[dict[str, Any]] = UNBUILDABLE_SETTINGS

    def test_call_action_calls_the_service_under_test(self) -> None:
        assert self.service_name == "users"
        assert self.call_action("list_users", {"n": 1}).body == {"real": True, "body": {"n": 1}}

    def test_errors_are_returned(self) -> None:
        errors = self.assertActionRunsWithAndReturnErrors("get_user", {"id": "one"})
        assert [error.code for error in errors] == ["INVALID"]

    def test_error_codes(self) -> None:
        self.assertActionRunsWithErrorCodes("refuse", {}, "REFUSED")
        self.assertActionRunsWithErrorCodes("get_user", {"id": "x", "y": 1}, ["UNKNOWN"])
        self.assertActionRunsWithOnlyErrorCodes(
            "get_user", {"id": "x", "y": 1}, ["UNKNOWN", "INVALID"]
        )

    def test_field_errors(self) -> None:
        self.assertActionRunsWithFieldErrors("get_user", {}, {"id": "MISSING"})
        self.assertActionRunsWithFieldErrors("get_user", {"x": 1}, {"x": "UNKNOWN"}, only=False)
        self.assertActionRunsWithOnlyFieldErrors(
            "get_user", {"x": 1}, {"id": "MISSING", "x": ["UNKNOWN"]}
        )

    def test_keyword_arguments_go_to_the_client(self) -> None:
        response = self.call_action("list_users", {"n": 1}, raise_action_errors=False, timeout=5)
        assert response.body["body"] == {"n": 1}

    @stub_action("billing", "charge", body={"charged": True})
    def test_other_services_can_be_stubbed(self, stub: ActionStub) -> None:
        assert self.call_action("charge", service_name="billing").body == {"charged": True}


def test_a_server_test_case_runs_its_tests_against_an_in_process_server() -> None:
    TORN_DOWN.clear()
    result = run_case(PassingUsersCase)
    assert (result.testsRun, result.failures, result.errors) == (6, [], [])
    # Built on each test's first call to it: the test calling only billing never built it.
    assert TORN_DOWN == ["users"] * 5


class FailingUsersCase(ServerTestCase):
    __test__ = False
    server_class = "tests.testing.services:UserServer"

    def test_1_expects_errors_of_a_success(self) -> None:
        self.assertActionRunsWithErrorCodes("list_users", {"n": 1}, "NOT_FOUND")

    def test_2_expects_other_codes(self) -> None:
        self.assertActionRunsWithErrorCodes("refuse", {}, ["NOT_FOUND", "REFUSED"])

    def test_3_expects_only_some_codes(self) -> None:
        self.assertActionRunsWithOnlyErrorCodes("get_user", {"id": "x", "y": 1}, "INVALID")

    def test_4_expects_other_field_errors(self) -> None:
        self.assertActionRunsWithFieldErrors("get_user", {}, {"name": "MISSING"})

    def test_5_expects_only_some_field_errors(self) -> None:
        self.assertActionRunsWithOnlyFieldErrors("get_user", {"y": 1}, {"id": "MISSING"})

    def test_6_expects_errors_of_any_kind(self) -> None:
        self.assertActionRunsWithAndReturnErrors("list_users", {})


def test_failing_assertions_say_what_was_expected_and_what_came_back() -> None:
    result = run_case(FailingUsersCase)
    assert result.errors == []
    assert failure_messages(result) == [
        "AssertionError: Expected action 'list_users' to fail with error codes NOT_FOUND, "
        "but it succeeded with body {'real': True, 'body': {'n': 1}}",
        "  - refuse: REFUSED: the real action refuses",
        "  - get_user: UNKNOWN (field y): Extra inputs are not permitted",
        "  - get_user: MISSING (field id): Field required",
        "  - get_user: UNKNOWN (field y): Extra inputs are not permitted",
        "AssertionError: Expected action 'list_users' to fail, but it succeeded with body "
        "{'real': True, 'body': {}}",
    ]
    second = result.failures[1][1]
    assert (
        "AssertionError: Expected the call to fail with error codes NOT_FOUND, REFUSED.\n"
        "Missing: NOT_FOUND\n"
        "The call failed with:\n"
        "  - refuse: REFUSED: the real action refuses"
    ) in second
    assert "Unexpected: UNKNOWN (field y)" in result.failures[2][1]
    assert "Missing: name: MISSING" in result.failures[3][1]
    assert "with field errors id: MISSING (and no others)" in result.failures[4][1]


class NoServerCase(ServerTestCase):
    __test__ = False

    def test_anything(self) -> None:
        raise AssertionError("never runs")


def test_a_test_case_without_a_server_class_says_so() -> None:
    result = run_case(NoServerCase)
    ((_, traceback),) = result.errors
    assert traceback.strip().endswith("TypeError: NoServerCase must set server_class")


class SettingsByPathCase(ServerTestCase):
    __test__ = False
    server_class = TrackedUserServer
    server_settings = "tests.testing.test_cases:UNBUILDABLE_SETTINGS"

    def test_settings_by_path(self) -> None:
        self.call_action("list_users")


def test_server_settings_may_be_a_path_and_their_transport_is_never_built() -> None:
    result = run_case(SettingsByPathCase)
    assert (result.failures, result.errors) == ([], [])


def test_the_unittest_case_has_the_references_name_too() -> None:
    assert UnitTestServerTestCase is ServerTestCase
    assert issubclass(ServerTestCase, BaseServerTestCase)


def test_settings_objects_lose_their_transport_too() -> None:
    from servicewire import ServerSettings

    settings = ServerSettings.from_dict({"transport": None, "request_log_error_level": "ERROR"})
    assert transportless_settings(settings) == settings
    assert transportless_settings(None) == {"transport": None}
    with pytest.raises(TypeError, match="Server settings must be a dict, not 3"):
        transportless_settings(3)  # type: ignore[arg-type]


# --- pytest -------------------------------------------------------------------------------


class TestPyTestServerTestCase(PyTestServerTestCase):
    server_class = UserServer

    def test_the_client_calls_the_service(self) -> None:
        assert self.call_action("list_users", {"n": 2}).body == {"real": True, "body": {"n": 2}}

    def test_the_assertions(self) -> None:
        self.assertActionRunsWithErrorCodes("refuse", {}, "REFUSED")
        self.assertActionRunsWithOnlyFieldErrors("get_user", {}, {"id": "MISSING"})
        errors = self.assertActionRunsWithAndReturnErrors("refuse", {})
        assert errors == [Error("REFUSED", "the real action refuses", is_caller_error=True)]

    def test_a_failing_assertion_says_why(self) -> None:
        with pytest.raises(AssertionError) as raised:
            self.assertActionRunsWithOnlyFieldErrors("get_user", {"x": 1}, {"id": "MISSING"})
        assert str(raised.value) == (
            "Expected the call to fail with field errors id: MISSING (and no others).\n"
            "Unexpected: UNKNOWN (field x)\n"
            "The call failed with:\n"
            "  - get_user: MISSING (field id): Field required\n"
            "  - get_user: UNKNOWN (field x): Extra inputs are not permitted"
        )


def test_the_pytest_case_closes_its_client_after_each_test() -> None:
    TORN_DOWN.clear()

    class Case(PyTestServerTestCase):
        server_class = TrackedUserServer

    case = Case()
    case.setup_method()
    case.call_action("list_users")
    case.teardown_method()
    assert TORN_DOWN == ["users"]


class TestUnittestAssertionsInAPyTestCase(PyTestServerTestCase):
    server_class = UserServer

    def test_unittest_assertions_work(self) -> None:
        # The unittest style is what is under test here.
        self.assertEqual({"n": 1}, self.call_action("list_users", {"n": 1}).body["body"])  # noqa: PT009
        self.assertIn("real", self.call_action("list_users").body)  # noqa: PT009
        with self.assertRaises(ZeroDivisionError):  # noqa: PT027
            1 / 0
        with pytest.raises(AssertionError, match="1 != 2"):
            self.assertEqual(1, 2)  # noqa: PT009
        with pytest.raises(AssertionError, match="on purpose"):
            self.fail("on purpose")

    def test_other_missing_attributes_are_still_missing(self) -> None:
        with pytest.raises(AttributeError, match="object has no attribute 'clinet'"):
            self.clinet


def test_setup_pysoa_is_the_references_name_of_setup_servicewire() -> None:
    class Case(PyTestServerTestCase):
        server_class = UserServer

    case = Case()
    case.setup_pysoa()
    try:
        assert case.call_action("list_users", {"n": 1}).body["real"] is True
    finally:
        case.teardown_servicewire()


class TestUnittestStyleSetUp(PyTestServerTestCase):
    server_class = UserServer

    def setUp(self) -> None:
        # The client exists when setUp runs, as in PySOA.
        self.users = self.call_action("list_users", {"n": 3}).body["body"]
        self.addCleanup(self.users.clear)

    def test_set_up_ran_with_the_client(self) -> None:
        assert self.users == {"n": 3}
