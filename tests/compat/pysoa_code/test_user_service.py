import logging

import pytest
from pysoa.client.client import Client
from pysoa.common.constants import ERROR_CODE_INVALID, ERROR_CODE_MISSING
from pysoa.test.assertions import raises_error_codes, raises_field_errors, raises_only_field_errors
from pysoa.test.server import PyTestServerTestCase
from pysoa.test.stub_service import stub_action
from user_service.actions import USER_VERSION_2_ENABLED, USERS
from user_service.server import UserServer
from user_service.settings import SOA_SERVER_SETTINGS


class TestGetUser(PyTestServerTestCase):
    server_class = UserServer
    server_settings = SOA_SERVER_SETTINGS

    @classmethod
    def setUpClass(cls):
        cls.class_ready = True

    def setUp(self):
        self.cleaned = []
        self.addCleanup(self.cleaned.append, "done")

    def test_class_and_test_set_up_ran(self):
        self.assertTrue(self.class_ready)
        self.assertEqual(self.cleaned, [])

    def test_get_user(self):
        response = self.call_action("get_user", {"user_id": 1})
        self.assertIn("user", response.body)
        self.assertDictEqual(
            response.body["user"],
            {"_type": "user", "id": 1, "name": "Ada", "email": "ada@example.com", "team_id": 10},
        )
        self.assertNotIn("first_name", response.body["user"])

    def test_get_user_version_2_with_its_switch(self):
        response = self.call_action("get_user", {"user_id": 2}, switches=[USER_VERSION_2_ENABLED])
        self.assertEqual(response.body["user"]["first_name"], "Grace")

    def test_missing_user_id(self):
        self.assertActionRunsWithFieldErrors("get_user", {}, {"user_id": ERROR_CODE_MISSING})

    def test_invalid_user_id(self):
        with raises_field_errors({"user_id": ERROR_CODE_INVALID}):
            self.call_action("get_user", {"user_id": 0})

    def test_unknown_key(self):
        self.assertActionRunsWithErrorCodes("get_user", {"user_id": 1, "extra": True}, "UNKNOWN")

    def test_no_such_user(self):
        with self.assertRaises(Client.CallActionError) as error_info:
            self.call_action("get_user", {"user_id": 99})
        self.assertEqual(error_info.value.actions[0].errors[0].code, "NOT_FOUND")
        self.assertTrue(error_info.value.actions[0].errors[0].is_caller_error)

    def test_raises_error_codes_takes_match(self):
        with raises_error_codes(["NOT_FOUND"], match="NOT_FOUND") as exc_info:
            self.call_action("get_user", {"user_id": 99})
        self.assertEqual(exc_info.soa_errors[0].field, "user_id")

    def test_introspection_documents_the_schema(self):
        response = self.call_action("introspect", {"action_name": "get_user"})
        actions = response.body["actions"]
        self.assertSetEqual(set(actions), {"get_user[DEFAULT]", "get_user[switch:5]"})
        self.assertEqual(actions["get_user[DEFAULT]"]["documentation"], "Return one user.")


class TestCreateUser(PyTestServerTestCase):
    server_class = UserServer
    server_settings = SOA_SERVER_SETTINGS

    def tearDown(self):
        for user_id in [user_id for user_id in USERS if user_id > 2]:
            del USERS[user_id]

    def body(self, **changes):
        body = {"name": "Linus", "email": "linus@example.com", "team_id": 10, "roles": ["member"]}
        body.update(changes)
        return body

    def test_create_user_with_the_routed_team_service(self):
        response = self.call_action("create_user", self.body())
        self.assertIn(response.body["id"], USERS)

    @stub_action("team", "get_team", body={"id": 10, "members": 10, "capacity": 10})
    def test_full_team(self, stub_get_team):
        self.assertActionRunsWithErrorCodes("create_user", self.body(), "TEAM_FULL")
        self.assertEqual(stub_get_team.call_count, 1)
        stub_get_team.assert_called_once_with({"team_id": 10})

    def test_field_errors_with_dotted_paths(self):
        with raises_only_field_errors(
            {"name": "INVALID", "roles.0": "UNKNOWN", "preferences.dark": "INVALID"}
        ):
            self.call_action(
                "create_user",
                self.body(name=" ", roles=["owner"], preferences={"dark": "yes"}),
            )

    def test_polymorph_login(self):
        self.call_action("create_user", self.body(login={"method": "sso", "provider": "okta"}))
        self.assertActionRunsWithErrorCodes(
            "create_user", self.body(login={"method": "carrier pigeon"}), "UNKNOWN"
        )

    def test_validate_refuses_a_domain(self):
        errors = self.assertActionRunsWithAndReturnErrors(
            "create_user", self.body(email="x@example.org")
        )
        self.assertEqual([(e.code, e.field) for e in errors], [("INVALID", "email")])

    def test_invalid_email(self):
        self.assertActionRunsWithOnlyFieldErrors(
            "create_user", self.body(email="not an address"), {"email": "INVALID"}
        )

    def test_assert_logs_and_almost_equal(self):
        with self.assertLogs("user_service", level=logging.INFO) as logs:
            logging.getLogger("user_service").info("created")
        self.assertRegex(logs.output[0], "created")
        self.assertAlmostEqual(0.1 + 0.2, 0.3)
        with pytest.raises(AssertionError):
            self.assertSetEqual({1}, {2})
