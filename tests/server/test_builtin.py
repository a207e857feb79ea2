"""The built-in status and introspect actions."""

from __future__ import annotations

import platform
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, Field

import servicewire
from servicewire import (
    Action,
    BaseStatusAction,
    CallActionError,
    Client,
    EnrichedActionRequest,
    Server,
    StatusActionFactory,
)
from servicewire.server.builtin import CheckMethodStatus, make_default_status_action_class


class GetRequest(BaseModel):
    """Which thing to get."""

    thing_id: int = Field(description="The id of the thing.")


class GetResponse(BaseModel):
    name: str


class Get(Action):
    """Gets a thing."""

    request_schema = GetRequest
    response_schema = GetResponse

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"name": "thing"}


class Described(Action):
    description = "Uses its description."

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class HealthyStatus(StatusActionFactory("2.0.0", "build-7")):  # type: ignore[misc]
    def check_database(self, request: EnrichedActionRequest) -> Any:
        self.diagnostics["database"] = {"latency_ms": 3}
        return [CheckMethodStatus(False, "DB_SLOW", "The database is slow")]

    def check_cache(self, request: EnrichedActionRequest) -> Any:
        return [(True, "CACHE_DOWN", "The cache is down"), (False, "CACHE_COLD", "Cold")]

    def check_nothing(self, request: EnrichedActionRequest) -> Any:
        return None


class Things(Server):
    """Keeps things."""

    service_name = "things"
    action_class_map: ClassVar[dict[str, Any]] = {
        "get": Get,
        "described": Described,
        "status": HealthyStatus,
    }


def local(server_class: type[Server], settings: dict[str, Any] | None = None) -> Client:
    return Client(
        {
            server_class.service_name: {
                "transport": {
                    "path": "servicewire.transport.local:LocalClientTransport",
                    "kwargs": {"server_class": server_class, "server_settings": settings or {}},
                }
            }
        }
    )


class Plain(Server):
    service_name = "plain"
    action_class_map: ClassVar[dict[str, Any]] = {}


def test_the_default_status_reports_versions() -> None:
    body = local(Plain).call_action("plain", "status").body
    assert body == {
        "python": platform.python_version(),
        "servicewire": servicewire.__version__,
        "version": "unknown",
        "healthcheck": {"errors": [], "warnings": [], "diagnostics": {}},
    }


def test_the_default_status_takes_the_version_from_the_servers_package() -> None:
    # The test package defines no __version__; servicewire's own servers would report theirs.
    assert (
        make_default_status_action_class(Plain)(None).run(
            EnrichedActionRequest("status", {"verbose": False})
        )["version"]
        == "unknown"
    )

    class Own(Server):
        service_name = "own"

    Own.__module__ = "servicewire.fake"
    status = make_default_status_action_class(Own)(None)
    assert status.run(EnrichedActionRequest("status", {}))["version"] == servicewire.__version__


def test_status_runs_the_check_methods() -> None:
    body = local(Things).call_action("things", "status").body
    assert body["version"] == "2.0.0"
    assert body["build"] == "build-7"
    # The local transport does not serialize: findings are still the (code, text) tuples.
    assert body["healthcheck"] == {
        "errors": [("CACHE_DOWN", "The cache is down")],
        "warnings": [("CACHE_COLD", "Cold"), ("DB_SLOW", "The database is slow")],
        "diagnostics": {"database": {"latency_ms": 3}},
    }


def test_status_skips_the_checks_unless_verbose() -> None:
    body = local(Things).call_action("things", "status", {"verbose": False}).body
    assert "healthcheck" not in body
    assert body["version"] == "2.0.0"


def test_status_rejects_unknown_request_keys() -> None:
    with pytest.raises(CallActionError) as caught:
        local(Things).call_action("things", "status", {"verbose": "yes", "x": 1})
    assert [(e.code, e.field) for e in caught.value.actions[0].errors] == [
        ("INVALID", "verbose"),
        ("UNKNOWN", "x"),
    ]


def test_the_client_settings_check_is_off_by_default() -> None:
    assert not any(name == "check_client_settings" for name in dir(BaseStatusAction))


class CallingStatus(BaseStatusAction):
    check_client_settings = BaseStatusAction._check_client_settings


class Caller(Server):
    service_name = "caller"
    action_class_map: ClassVar[dict[str, Any]] = {"status": CallingStatus}


def routing_to(server_class: type[Server]) -> dict[str, Any]:
    return {
        "client_routing": {
            server_class.service_name: {
                "transport": {
                    "path": "servicewire.transport.local:LocalClientTransport",
                    "kwargs": {"server_class": server_class},
                }
            }
        }
    }


def test_the_client_settings_check_calls_status_on_each_service() -> None:
    body = local(Caller, routing_to(Things)).call_action("caller", "status").body
    services = body["healthcheck"]["diagnostics"]["services"]
    assert services["things"]["version"] == "2.0.0"
    assert "healthcheck" not in services["things"]
    assert body["healthcheck"]["errors"] == []


class Broken(Server):
    service_name = "broken"
    action_class_map: ClassVar[dict[str, Any]] = {"status": Get}


def test_the_client_settings_check_reports_a_failing_service() -> None:
    body = local(Caller, routing_to(Broken)).call_action("caller", "status").body
    ((code, description),) = body["healthcheck"]["errors"]
    assert code == "BROKEN_STATUS_ERROR"
    assert "thing_id" in description


def test_introspect_describes_the_service_and_every_action() -> None:
    body = local(Things).call_action("things", "introspect").body
    assert body["documentation"] == "Keeps things."
    assert body["action_names"] == ["described", "get", "introspect", "status"]
    get = body["actions"]["get"]
    assert get["documentation"] == "Gets a thing."
    assert get["request_schema"]["properties"]["thing_id"] == {
        "description": "The id of the thing.",
        "title": "Thing Id",
        "type": "integer",
    }
    assert get["request_schema"]["additionalProperties"] is False
    assert get["response_schema"]["required"] == ["name"]
    assert body["actions"]["described"] == {
        "documentation": "Uses its description.",
        "request_schema": None,
        "response_schema": None,
    }
    assert body["actions"]["introspect"]["documentation"].startswith("Returns the documentation")


def test_introspect_one_action() -> None:
    body = local(Things).call_action("things", "introspect", {"action_name": "get"}).body
    assert "documentation" not in body
    assert body["action_names"] == ["get"]
    assert list(body["actions"]) == ["get"]


def test_introspect_an_unknown_action_is_invalid_on_action_name() -> None:
    with pytest.raises(CallActionError) as caught:
        local(Things).call_action("things", "introspect", {"action_name": "nope"})
    (error,) = caught.value.actions[0].errors
    assert (error.code, error.field, error.is_caller_error) == ("INVALID", "action_name", True)


def test_a_service_without_a_docstring_has_no_documentation() -> None:
    assert local(Plain).call_action("plain", "introspect").body["documentation"] is None
