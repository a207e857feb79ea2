"""The queued processor and the auxiliary server, over the SQL transport: in this process,
and in server processes that die."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from servicewire import Client, Server
from servicewire.server.auxiliary import QueuedAuxProcessor, auxiliary_service_name
from tests.server.auxiliary.services import (
    Probe,
    SlowAuditServer,
    UsersAuxiliaryServer,
    UsersServer,
)
from tests.support.local import serving
from tests.support.processes import wait_until
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.processes import ServerProcesses


def settings_on(database: SqlDatabase, **server_transport: Any) -> dict[str, Any]:
    """Server settings shared by a primary service and its auxiliary server: the SQL
    transport, and a queued default processor sending through the same database."""
    server_transport.setdefault("receive_timeout_in_seconds", 0.2)
    return {
        "transport": database.server_transport(**server_transport),
        "auxiliary_processors": {
            "default": {
                "path": "servicewire.server.auxiliary:QueuedAuxProcessor",
                "kwargs": {"client": {"transport": database.client_transport()}},
            }
        },
    }


def queued(database: SqlDatabase, service: str) -> list[Any]:
    """The requests waiting in ``service``'s queue."""
    requests = database.tables.requests
    return list(
        database.execute(select(requests.c.request_id).where(requests.c.service == service))
    )


def call_served(server: Server, client: Client, body: dict[str, Any]) -> Any:
    """Send a create_user job, have ``server`` handle it here, return the response."""
    request_id = client.send_request(
        "users", [{"action": "create_user", "body": body}], switches=[5], correlation_id="corr-9"
    )
    server.handle_next_request()
    return dict(client.get_all_responses("users", 10))[request_id]


def test_auxiliary_actions_queued_for_the_auxiliary_server_run_there(
    database: SqlDatabase, probe: Probe
) -> None:
    settings = settings_on(database)
    primary = UsersServer(settings)
    client = Client({"users": {"transport": database.client_transport()}})

    response = call_served(primary, client, {"name": "ada"})

    assert response.actions[0].body == {"id": 42, "name": "ada"}
    assert probe.runs == []
    assert len(queued(database, "users.auxiliary")) == 2
    auxiliary = UsersAuxiliaryServer(settings)
    assert auxiliary.service_name == auxiliary_service_name("users") == "users.auxiliary"
    auxiliary.handle_next_request()
    auxiliary.handle_next_request()

    assert probe.names() == ["create_user:SendWelcomeEmail", "create_user:AuditTrail"]
    run = probe.runs[0]
    assert (run.primary_action, run.body, run.response_body) == (
        "create_user",
        {"name": "ada"},
        {"id": 42, "name": "ada"},
    )
    assert (run.errors, run.correlation_id, run.switches) == ([], "corr-9", {5})
    assert queued(database, "users.auxiliary") == []


def test_queued_auxiliary_action_of_a_failed_primary_sees_its_errors(
    sqlite_database: SqlDatabase, probe: Probe
) -> None:
    settings = settings_on(sqlite_database)
    client = Client({"users": {"transport": sqlite_database.client_transport()}})

    response = call_served(UsersServer(settings), client, {"name": "ada", "fail": True})
    UsersAuxiliaryServer(settings).handle_next_request()

    assert [error.code for error in response.actions[0].errors] == ["NAME_TAKEN"]
    assert probe.names() == ["create_user:AuditTrail"]
    assert probe.runs[0].errors == ["NAME_TAKEN"]


def test_auxiliary_server_runs_only_auxiliary_envelopes_of_its_primary(probe: Probe) -> None:
    envelope = {
        "service": "users",
        "action": "create_user",
        "body": {"name": "ada"},
        "control": {"continue_on_error": False},
        "response": {"body": {"id": 1}, "errors": []},
    }
    with serving(UsersAuxiliaryServer, {"transport": None}) as client:

        def job(action: str, body: dict[str, Any]) -> Any:
            """The job's errors, or its action's response."""
            response = client.call_actions(
                "users.auxiliary",
                [{"action": action, "body": body}],
                raise_job_errors=False,
                raise_action_errors=False,
            )
            return response if response.errors else response.actions[0]

        plain = job("create_user:SendWelcomeEmail", {"name": "ada"})
        stranger = job("create_user:SendWelcomeEmail", {**envelope, "service": "orders"})
        mismatched = job("create_user:SendWelcomeEmail", {**envelope, "action": "delete_user"})
        primary = job("create_user", {"name": "ada"})
        introspection = job("introspect", {})
        accepted = job("create_user:SendWelcomeEmail", envelope)

    assert {(error.code, error.field) for error in plain.errors} >= {
        ("MISSING", "actions.0.body.service"),
        ("MISSING", "actions.0.body.response"),
    }
    assert [(error.code, error.field) for error in stranger.errors] == [
        ("INVALID", "actions.0.body.service")
    ]
    assert [(error.code, error.field) for error in mismatched.errors] == [
        ("INVALID", "actions.0.body.action")
    ]
    assert [error.code for error in primary.errors] == ["UNKNOWN"]
    assert introspection.body["action_names"] == ["introspect", "status"]
    assert accepted.errors == []
    assert [(run.action, run.response_body) for run in probe.runs] == [
        ("create_user:SendWelcomeEmail", {"id": 1})
    ]


def test_auxiliary_call_that_cannot_be_queued_is_logged_and_the_response_is_intact(
    sqlite_database: SqlDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_on(sqlite_database)
    settings["auxiliary_processors"]["default"]["kwargs"]["client"] = {
        "transport": sqlite_database.client_transport(maximum_message_size_in_bytes=64)
    }
    client = Client({"users": {"transport": sqlite_database.client_transport()}})

    with caplog.at_level(logging.ERROR, "servicewire.server.auxiliary"):
        response = call_served(UsersServer(settings), client, {"name": "ada"})

    assert response.actions[0].body == {"id": 42, "name": "ada"}
    assert "Dropped <AuxiliaryCall create_user:SendWelcomeEmail" in caplog.text
    assert "could not be sent to service 'users.auxiliary'" in caplog.text
    assert "over the limit of 64 bytes" in caplog.text
    assert queued(sqlite_database, "users.auxiliary") == []


def test_queued_processor_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="message_expiry_in_seconds"):
        QueuedAuxProcessor(message_expiry_in_seconds=0)


def test_queued_auxiliary_call_survives_the_primary_process_being_killed(
    sqlite_database: SqlDatabase,
    server_processes: ServerProcesses,
    probe: Probe,
    tmp_path: Path,
) -> None:
    settings = settings_on(sqlite_database)
    log = tmp_path / "welcome.log"
    primary = server_processes.start("tests.server.auxiliary.services:UsersServer", settings)
    client = Client({"users": {"transport": sqlite_database.client_transport()}})

    response = client.call_action("users", "create_user", {"name": "ada", "log": str(log)})
    assert response.body == {"id": 42, "name": "ada"}
    wait_until(lambda: len(queued(sqlite_database, "users.auxiliary")) == 2, "the queued jobs", 30)
    primary.kill()

    assert not log.exists()
    auxiliary = server_processes.start(
        "tests.server.auxiliary.services:UsersAuxiliaryServer", settings
    )
    wait_until(log.exists, "the auxiliary action to run", 30)
    wait_until(lambda: queued(sqlite_database, "users.auxiliary") == [], "an empty queue", 30)

    assert log.read_text() == (
        f"{auxiliary.pid} create_user:SendWelcomeEmail {{'id': 42, 'name': 'ada'}}\n"
    )
    assert auxiliary.stop() == 0


def test_queued_auxiliary_call_runs_again_when_its_auxiliary_server_is_killed(
    sqlite_database: SqlDatabase, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    settings = settings_on(sqlite_database, visibility_timeout_in_seconds=1)
    started, release, log = tmp_path / "started", tmp_path / "release", tmp_path / "log"
    body = {"started": str(started), "release": str(release), "log": str(log)}
    with serving(SlowAuditServer, {**settings, "transport": None}) as client:
        client.call_action("marks", "mark", body)
    first = server_processes.start(
        "tests.server.auxiliary.services:SlowAuditAuxiliaryServer", settings
    )
    wait_until(started.exists, "the auxiliary action to start", 30)
    first.kill()
    started.unlink()

    second = server_processes.start(
        "tests.server.auxiliary.services:SlowAuditAuxiliaryServer", settings
    )
    wait_until(started.exists, "the auxiliary action to start again", 30)
    release.touch()
    wait_until(log.exists, "the auxiliary action to finish", 30)

    assert started.read_text() == str(second.pid)
    assert log.read_text() == f"{second.pid} mark:HoldUntilReleased\n"
    assert second.stop() == 0
