"""Auxiliary actions: what they receive, when they run or are skipped, what their failures
cannot touch, and that callers can neither see nor call them."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from servicewire import (
    ActionError,
    Client,
    EnrichedActionRequest,
    Error,
    ImproperlyConfigured,
    InvalidSettings,
    Server,
    ServerMiddleware,
)
from servicewire.server.auxiliary import AuxiliaryActionRequest
from servicewire.server.middleware import ProcessAction
from servicewire.types import ActionResponse
from tests.server.auxiliary.services import (
    AuditTrail,
    CreateUser,
    Explode,
    Probe,
    SendWelcomeEmail,
    UsersServer,
)
from tests.support.local import local_server, serving
from tests.transport.sql.conftest import SqlDatabase

THREADS = {"default": {"path": "servicewire.server.auxiliary:ThreadAuxProcessor"}}


def users(**settings: Any) -> Any:
    """A local client of the users service, with its server built."""
    return serving(UsersServer, {"transport": None, **settings})


def test_auxiliary_actions_get_a_copy_of_the_request_and_the_primary_response(
    probe: Probe,
) -> None:
    with users() as client:
        response = client.call_action(
            "users", "create_user", {"name": "ada"}, switches=[3], correlation_id="corr-1"
        )

    assert response.body == {"id": 42, "name": "ada"}
    assert probe.names() == ["create_user:SendWelcomeEmail", "create_user:AuditTrail"]
    run = probe.runs[0]
    assert run.primary_action == "create_user"
    assert run.body == {"name": "ada"}
    assert run.response_body == {"id": 42, "name": "ada"}
    assert run.errors == []
    assert run.correlation_id == "corr-1"
    assert run.switches == {3}


def test_auxiliary_actions_are_skipped_when_the_primary_fails(probe: Probe) -> None:
    metrics = "tests.support.metrics:RecordingMetrics"
    with users(metrics={"path": metrics}) as client:
        response = client.call_action(
            "users", "create_user", {"name": "ada", "fail": True}, raise_action_errors=False
        )
        server = local_server(client, "users")

    assert [error.code for error in response.errors] == ["NAME_TAKEN"]
    # SendWelcomeEmail is skipped; AuditTrail (process_exceptions) runs and sees the errors.
    assert probe.names() == ["create_user:AuditTrail"]
    assert probe.runs[0].errors == ["NAME_TAKEN"]
    assert probe.runs[0].response_body == {}
    assert (
        server.metrics.count("server.auxiliary.skipped", action="create_user:SendWelcomeEmail") == 1
    )


def test_auxiliary_actions_do_not_run_for_a_rejected_job(probe: Probe) -> None:
    with users() as client:
        response = client.call_action(
            "users", "create_user", {"name": 3}, raise_action_errors=False
        )

    assert [error.code for error in response.errors] == ["INVALID"]
    # The action ran (and failed validation): only the process_exceptions action follows.
    assert probe.names() == ["create_user:AuditTrail"]


class ExplodingServer(Server):
    service_name = "users"
    action_class_map = {"create_user": CreateUser}
    auxiliary_action_map = {"create_user": [Explode, SendWelcomeEmail]}


def test_failing_auxiliary_action_leaves_the_response_intact(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = {"path": "tests.support.metrics:RecordingMetrics"}
    with (
        serving(ExplodingServer, {"transport": None, "metrics": metrics}) as client,
        caplog.at_level(logging.WARNING),
    ):
        response = client.call_action("users", "create_user", {"name": "ada"})
        server = local_server(client, "users")

    # The in-process caller holds the very objects the server answered with: the auxiliary
    # action's damage was done to copies.
    assert response.body == {"id": 42, "name": "ada"}
    assert response.errors == []
    # The next auxiliary action still ran, with an undamaged copy.
    assert probe.names() == ["create_user:Explode", "create_user:SendWelcomeEmail"]
    assert probe.runs[1].body == {"name": "ada"}
    assert probe.runs[1].response_body == {"id": 42, "name": "ada"}
    assert "the mail server is down" in caplog.text
    assert "Auxiliary action create_user:Explode of service 'users' failed" in caplog.text
    metrics = server.metrics
    assert (
        metrics.count("server.auxiliary.error", action="create_user:Explode", code="SERVER_ERROR")
        == 1
    )


def test_auxiliary_actions_are_not_introspected_and_cannot_be_called(probe: Probe) -> None:
    with users() as client:
        introspection = client.call_action("users", "introspect", {}).body
        response = client.call_action(
            "users", "create_user:SendWelcomeEmail", {"name": "ada"}, raise_action_errors=False
        )

    assert introspection["action_names"] == ["create_user", "introspect", "status"]
    assert [(error.code, error.field) for error in response.errors] == [("UNKNOWN", "action")]
    assert probe.runs == []


def test_primary_response_arrives_before_a_slow_auxiliary_action_finishes(
    probe: Probe, sqlite_database: SqlDatabase
) -> None:
    # The default processor runs auxiliary actions inline, in the server's thread, once the
    # response is out: over a transport, the caller does not wait for them.
    server = UsersServer({"transport": sqlite_database.server_transport()})
    client = Client({"users": {"transport": sqlite_database.client_transport()}})
    client.send_request("users", [{"action": "create_user", "body": {"name": "ada", "hold": True}}])
    serving_thread = threading.Thread(target=server.handle_next_request)
    serving_thread.start()
    try:
        ((_request_id, response),) = client.get_all_responses("users", 10)
        # The auxiliary action cannot finish before it is released, below.
        assert not probe.finished.is_set()
        assert response.actions[0].body == {"id": 42, "name": "ada"}
    finally:
        probe.release.set()
        serving_thread.join(10)
    assert probe.finished.is_set()
    assert probe.names() == ["create_user:SendWelcomeEmail", "create_user:AuditTrail"]


def test_thread_processor_answers_an_in_process_caller_before_a_slow_auxiliary_action(
    probe: Probe,
) -> None:
    with users(auxiliary_processors=THREADS) as client:
        response = client.call_action("users", "create_user", {"name": "ada", "hold": True})
        assert probe.started.wait(10)
        assert not probe.finished.is_set()
        assert response.body == {"id": 42, "name": "ada"}
        probe.release.set()
    # Closing the client tore the server down, which waited for its auxiliary actions.
    assert probe.finished.is_set()
    assert probe.names() == ["create_user:SendWelcomeEmail", "create_user:AuditTrail"]


class SeenActions(ServerMiddleware):
    seen: list[tuple[str, str]] = []

    def action(self, process_action: ProcessAction) -> ProcessAction:
        def wrapped(request: EnrichedActionRequest) -> ActionResponse:
            SeenActions.seen.append((request.action, type(request).__name__))
            return process_action(request)

        return wrapped


def test_auxiliary_actions_run_through_the_action_middleware(probe: Probe) -> None:
    SeenActions.seen = []
    middleware = [{"path": "tests.server.auxiliary.test_actions:SeenActions"}]
    with users(middleware=middleware) as client:
        client.call_action("users", "create_user", {"name": "ada"})

    assert SeenActions.seen == [
        ("create_user", "EnrichedActionRequest"),
        ("create_user:SendWelcomeEmail", "AuxiliaryActionRequest"),
        ("create_user:AuditTrail", "AuxiliaryActionRequest"),
    ]


class CallsBack(AuditTrail):
    """Uses the request's helpers: another action of the service, and an error of its own."""

    def run(self, request: AuxiliaryActionRequest) -> dict[str, Any]:
        again = request.call_local_action("create_user", {"name": "bob"})
        probe_request = request.copy_for(request.action, {"name": again.body["name"]})
        assert isinstance(probe_request, AuxiliaryActionRequest)
        raise ActionError([Error("AUDIT_FULL", f"no room for {again.body['name']}")])


class CallingBackServer(Server):
    service_name = "users"
    action_class_map = {"create_user": CreateUser}
    auxiliary_action_map = {"create_user": [CallsBack]}


def test_auxiliary_action_can_call_the_service_and_its_errors_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        serving(CallingBackServer, {"transport": None}) as client,
        caplog.at_level(logging.WARNING, "servicewire.server.auxiliary"),
    ):
        response = client.call_action("users", "create_user", {"name": "ada"})

    assert response.body == {"id": 42, "name": "ada"}
    assert "AUDIT_FULL" in caplog.text
    assert "no room for bob" in caplog.text


@pytest.mark.parametrize(
    ("action_map", "message"),
    [
        (
            {"delete_user": [SendWelcomeEmail]},
            "auxiliary_action_map['delete_user'] of service 'users': 'delete_user' is not an "
            "action of the service",
        ),
        ({"create_user": SendWelcomeEmail}, "must be a list of action classes"),
        ({"create_user": ["SendWelcomeEmail"]}, "is not an action class"),
        (
            {"create_user": [SendWelcomeEmail, SendWelcomeEmail]},
            "lists 'create_user:SendWelcomeEmail' twice",
        ),
    ],
)
def test_bad_auxiliary_action_map_fails_at_start_up(action_map: Any, message: str) -> None:
    server_class = type("BadServer", (UsersServer,), {"auxiliary_action_map": action_map})

    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[")):
        server_class({"transport": None})


class Durable(SendWelcomeEmail):
    auxiliary_processor = "durable"


def test_auxiliary_action_naming_an_undefined_processor_fails_at_start_up() -> None:
    server_class = type(
        "BadServer", (UsersServer,), {"auxiliary_action_map": {"create_user": [Durable]}}
    )

    with pytest.raises(ImproperlyConfigured, match="uses the processor 'durable', which"):
        server_class({"transport": None, "auxiliary_processors": THREADS})


def test_bad_processor_settings_fail_at_start_up_naming_the_key() -> None:
    processors = {
        "default": {
            "path": "servicewire.server.auxiliary:ThreadAuxProcessor",
            "kwargs": {"pool_size": 0},
        }
    }

    with pytest.raises(InvalidSettings, match=r"auxiliary_processors\.default.*pool_size"):
        UsersServer({"transport": None, "auxiliary_processors": processors})


def test_processor_must_be_an_auxiliary_processor() -> None:
    with pytest.raises(InvalidSettings, match=r"must be a subclass of .*AuxProcessor"):
        UsersServer(
            {
                "transport": None,
                "auxiliary_processors": {"default": {"path": "servicewire:Client"}},
            }
        )
