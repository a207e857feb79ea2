"""The pytest plugin: loaded through its entry point, its fixtures find the server under test,
stubs stop after each test, failures read well, and loading it changes nothing.

These tests run pytest sessions of their own (pytester); tests/testing/test_pytest_versions.py
runs this module under each supported major version of pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Imported here, before any inner session: pytester forgets the modules an inner session
# imported, but not the attribute its package keeps, so a later session's "from unittest
# import mock" and sys.modules["unittest.mock"] (where pytest looks for mock.patch's
# sentinel) could be two different modules.
import unittest.mock  # noqa: F401

import pytest

pytest_plugins = ["pytester"]

SERVICES = """
from pydantic import BaseModel

from servicewire import Action, ActionError, Error, Server, ServerMiddleware


class Hello(Action):
    def run(self, request):
        return {"hello": request.body.get("name", "world")}


class Fail(Action):
    def run(self, request):
        raise ActionError([Error("NOPE", "not today", field="name")])


class Greeter(Server):
    service_name = "greeter"
    action_class_map = {"hello": Hello, "fail": Fail}


class Shout(Action):
    def run(self, request):
        return {"hello": "WORLD"}


class Loud(Server):
    service_name = "loud"
    action_class_map = {"hello": Shout}


class Greeting(BaseModel):
    hello: str


class StrictHello(Action):
    response_schema = Greeting

    def run(self, request):
        return {"hello": "world"}


class Strict(Server):
    service_name = "strict"
    action_class_map = {"hello": StrictHello}


SEEN = []


class Recording(ServerMiddleware):
    def action(self, process_action):
        def record(request):
            SEEN.append(request.action)
            return process_action(request)

        return record
"""


@pytest.fixture
def services(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with the ``services`` module importable."""
    pytester.makepyfile(services=SERVICES)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # -W error: the plugin must cause no warning, deprecation or other. Hypothesis's plugin
    # would import all of hypothesis again in each session.
    return pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-W", "error", *args
    )


def test_the_plugin_is_loaded_through_its_entry_point(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    plugin = config.pluginmanager.get_plugin("servicewire")
    assert plugin is not None
    assert plugin.__name__ == "servicewire.testing.pytest_plugin"
    disabled = pytester.parseconfigure("-p", "no:servicewire")
    assert disabled.pluginmanager.get_plugin("servicewire") is None


def test_loading_the_plugin_imports_no_testing_module_and_installs_nothing() -> None:
    # The packages of this process, in a fresh one (this may be another pytest's environment).
    packages = [path for path in sys.path if path.endswith("site-packages")]
    code = textwrap.dedent(
        f"""
        import site, sys
        for directory in {packages!r}:
            site.addsitedir(directory)
        import servicewire.testing.pytest_plugin
        from servicewire.client import intercept
        loaded = sorted(name for name in sys.modules if name.startswith("servicewire.testing"))
        print(loaded, "unittest.mock" in sys.modules, intercept.hook_point.hook)
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert output.strip() == (
        "['servicewire.testing', 'servicewire.testing.pytest_plugin'] False None"
    )


# --- servicewire_client -------------------------------------------------------------------


def test_the_server_under_test_may_be_given_by_a_marker(services: pytest.Pytester) -> None:
    services.makepyfile(
        """
        import pytest
        from services import Greeter, Loud, SEEN

        pytestmark = pytest.mark.servicewire_server(server_class=Greeter)

        def test_module_marker(servicewire_client):
            assert servicewire_client.call_action("greeter", "hello").body == {"hello": "world"}

        @pytest.mark.servicewire_server(
            "services:Loud", settings={"middleware": [{"path": "services:Recording"}]}
        )
        def test_closest_marker_with_settings(servicewire_client):
            assert servicewire_client.call_action("loud", "hello").body == {"hello": "WORLD"}
            assert SEEN == ["hello"]
        """
    )
    run(services).assert_outcomes(passed=2)


def test_the_server_under_test_may_be_given_by_variables(services: pytest.Pytester) -> None:
    services.makeconftest(
        """
        from services import Loud
        servicewire_server_class = Loud
        """
    )
    services.makepyfile(
        test_from_conftest="""
        def test_conftest_variable(servicewire_client):
            assert servicewire_client.call_action("loud", "hello").body == {"hello": "WORLD"}
        """,
        test_from_module="""
        from services import Greeter
        servicewire_server_class = Greeter
        servicewire_server_settings = {"middleware": [{"path": "services:Recording"}]}

        def test_module_variable(servicewire_client):
            from services import SEEN
            servicewire_client.call_action("greeter", "hello")
            assert SEEN == ["hello"]

        class TestGroup:
            servicewire_server_class = "services:Loud"

            def test_class_variable(self, servicewire_client):
                assert servicewire_client.call_action("loud", "hello").body["hello"] == "WORLD"
        """,
    )
    nested = services.mkpydir("nested")
    (nested / "conftest.py").write_text(
        "from services import Greeter\nservicewire_server_class = Greeter\n"
    )
    (nested / "test_nested.py").write_text(
        "def test_nearest_conftest(servicewire_client):\n"
        "    assert servicewire_client.call_action('greeter', 'hello').body == {'hello': 'world'}\n"
    )
    run(services).assert_outcomes(passed=4)


def test_the_server_under_test_may_be_given_by_the_ini_file(services: pytest.Pytester) -> None:
    services.makeini("[pytest]\nservicewire_server_class = services:Greeter\n")
    services.makepyfile(
        """
        def test_ini(servicewire_client):
            assert servicewire_client.call_action("greeter", "hello").body == {"hello": "world"}
        """
    )
    run(services).assert_outcomes(passed=1)


def test_the_fixtures_can_be_overridden(services: pytest.Pytester) -> None:
    services.makepyfile(
        """
        import pytest

        @pytest.fixture
        def servicewire_server_class():
            from services import Loud
            return Loud

        def test_overridden(servicewire_client):
            assert servicewire_client.call_action("loud", "hello").body == {"hello": "WORLD"}
        """
    )
    run(services).assert_outcomes(passed=1)


def test_without_a_server_the_client_fixture_says_how_to_give_one(
    services: pytest.Pytester,
) -> None:
    services.makepyfile(
        """
        import pytest

        def test_nothing_given(servicewire_client):
            pass

        @pytest.mark.servicewire_server
        def test_empty_marker(servicewire_client):
            pass
        """
    )
    result = run(services)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*servicewire_client needs the server of the service under test: mark the test "
            "with @pytest.mark.servicewire_server(server_class=MyServer), set "
            "servicewire_server_class = MyServer in the test class, the test module or a "
            "conftest.py, or set the servicewire_server_class ini option",
            "*@pytest.mark.servicewire_server needs the server class: "
            "@pytest.mark.servicewire_server(server_class=MyServer)",
        ]
    )


def test_the_server_is_torn_down_after_each_test(services: pytest.Pytester) -> None:
    services.makepyfile(
        """
        import pytest
        from services import Greeter

        TORN_DOWN = []

        class Tracked(Greeter):
            def teardown(self):
                TORN_DOWN.append(self.service_name)
                super().teardown()

        servicewire_server_class = Tracked

        @pytest.mark.parametrize("n", [1, 2])
        def test_call(servicewire_client, n):
            servicewire_client.call_action("greeter", "hello")
            assert len(TORN_DOWN) == n - 1

        def test_after():
            assert TORN_DOWN == ["greeter", "greeter"]
        """
    )
    run(services).assert_outcomes(passed=3)


# --- stubs --------------------------------------------------------------------------------


def test_the_stub_action_fixture_stops_its_stubs_after_the_test(services: pytest.Pytester) -> None:
    services.makepyfile(
        """
        from services import Greeter

        servicewire_server_class = Greeter

        def test_stubbed(servicewire_client, stub_action):
            stub = stub_action("greeter", "hello", body={"hello": "stub"})
            other = stub_action("other", "thing", errors=[{"code": "NOPE", "message": "no"}])
            assert servicewire_client.call_action("greeter", "hello").body == {"hello": "stub"}
            assert stub.call_count == 1
            assert other.action_name == "thing"

        def test_real_again(servicewire_client):
            assert servicewire_client.call_action("greeter", "hello").body == {"hello": "world"}
        """
    )
    run(services).assert_outcomes(passed=2)


def test_decorated_test_functions_still_get_their_fixtures(services: pytest.Pytester) -> None:
    services.makepyfile(
        """
        from unittest import mock

        from servicewire.testing import stub_action

        servicewire_server_class = "services:Greeter"

        @stub_action("greeter", "hello", body={"hello": "decorated"})
        def test_function(stub, servicewire_client):
            assert servicewire_client.call_action("greeter", "hello").body["hello"] == "decorated"
            assert stub.call_count == 1

        @stub_action("greeter", "fail", body={})
        class TestClass:
            @mock.patch("os.getcwd", return_value="/x")
            def test_method(self, getcwd, stub, servicewire_client):
                assert servicewire_client.call_action("greeter", "fail").body == {}
                assert stub.action_name == "fail"
        """
    )
    run(services).assert_outcomes(passed=2)


def test_a_contract_violation_a_test_swallows_fails_its_teardown(
    services: pytest.Pytester,
) -> None:
    services.makepyfile(
        """
        servicewire_server_class = "services:Strict"

        def test_swallowed(servicewire_client, stub_action):
            stub_action("strict", "hello", body={"helo": "typo"})
            try:
                servicewire_client.call_action("strict", "hello")
            except Exception:
                pass
        """
    )
    result = run(services)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_swallowed*",
            "*StubContractError: The stub of strict.hello answered with a body that the real "
            "action rejects (StrictHello.response_schema, in services:Strict):",
            "*- MISSING hello: Field required",
            "*- UNKNOWN helo: Extra inputs are not permitted",
        ]
    )


def test_contracts_may_be_registered_in_the_ini_file(services: pytest.Pytester) -> None:
    services.makeini(
        """
        [pytest]
        servicewire_contracts =
            strict = services:Strict
        servicewire_contract_mode = required
        """
    )
    services.makepyfile(
        """
        import pytest
        from servicewire import Client
        from servicewire.testing import StubContractError, contracts, stub_action

        def test_registered():
            assert contracts.mode == "required"
            with pytest.raises(StubContractError, match="MISSING hello"):
                with stub_action("strict", "hello", body={"bye": 1}):
                    Client({}).call_action("strict", "hello")

        def test_required():
            with pytest.raises(StubContractError, match="requires a contract"):
                with stub_action("unknown", "hello"):
                    Client({}).call_action("unknown", "hello")
        """
    )
    run(services).assert_outcomes(passed=2)
    from servicewire.testing import contracts

    assert (contracts.registered(), contracts.mode) == ({}, "auto")


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "servicewire_contracts = remote contracted:Contracted",
            "*servicewire_contracts: 'remote contracted:Contracted' is not of the form "
            "'service = module:ServerClass'",
        ),
        (
            "servicewire_contract_mode = strict",
            "*servicewire_contract_mode: Unknown contract mode 'strict': use one of auto, "
            "required, off",
        ),
    ],
)
def test_bad_contract_options_are_usage_errors(
    pytester: pytest.Pytester, ini: str, message: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_never(): pass")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


# --- failures read well -------------------------------------------------------------------


def test_failing_assertions_show_what_was_expected_and_what_came_back(
    services: pytest.Pytester,
) -> None:
    services.makepyfile(
        """
        from servicewire.testing import PyTestServerTestCase, raises_field_errors

        servicewire_server_class = "services:Greeter"

        def test_context_manager(servicewire_client):
            with raises_field_errors({"name": "INVALID"}):
                servicewire_client.call_action("greeter", "fail")

        class TestGreeter(PyTestServerTestCase):
            server_class = "services:Greeter"

            def test_assertion(self):
                self.assertActionRunsWithErrorCodes("hello", {}, "NOPE")
        """
    )
    result = run(services)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: Expected the call to fail with field errors name: INVALID.",
            "*Missing: name: INVALID",
            "*The call failed with:",
            "*  - fail: NOPE (field name): not today",
            "*AssertionError: Expected action 'hello' to fail with error codes NOPE, but it "
            "succeeded with body {'hello': 'world'}",
        ]
    )
