import client_code
from pysoa.client.client import Client
from pysoa.client.settings import ClientSettings
from pysoa.common.transport.errors import PySOATransportError
from pysoa.common.types import ActionResponse
from pysoa.server.errors import ActionError
from pysoa.test.stub_service import StubClient


def test_expansions_follow_the_type_routes():
    user = client_code.user_with_team(client_code.make_client(), 1)
    assert user["team"] == {"_type": "team", "name": "Core"}


def test_stub_client_in_a_unit_test():
    client = StubClient(service_action_map={"user": {"get_user": {"body": {"user": {"id": 7}}}}})
    assert client.call_action("user", "get_user", {"user_id": 7}).body == {"user": {"id": 7}}


def test_action_errors_surface_as_call_action_error():
    client = StubClient()
    client.stub_action("user", "get_user", errors=[{"code": "NOT_FOUND", "message": "nope"}])
    try:
        client.call_action("user", "get_user", {"user_id": 8})
    except Client.CallActionError as error:
        assert isinstance(error.actions[0], ActionResponse)
        assert error.actions[0].errors[0].code == "NOT_FOUND"
    else:
        raise AssertionError("the call should have failed")


def test_settings_built_as_pysoa_builds_them():
    settings = ClientSettings(
        {"transport": {"path": "pysoa.test.stub_service:StubClientTransport"}}
    )
    assert settings["transport"].object.__name__ == "StubClientTransport"
    assert "middleware" in ClientSettings.defaults


def test_pysoa_exception_names_catch_servicewire_exceptions():
    assert issubclass(Client.CallActionError, Exception)
    assert not issubclass(ActionError, PySOATransportError)
