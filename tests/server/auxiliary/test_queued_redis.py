"""The queued processor and the auxiliary server over the Redis transport: the auxiliary
calls wait in Redis, so they survive the primary's process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from servicewire import Client
from tests.server.auxiliary.services import Probe, UsersAuxiliaryServer, UsersServer
from tests.support.processes import wait_until
from tests.transport.redis.support import CLIENT_TRANSPORT, SERVER_TRANSPORT, layer
from tests.transport.sql.processes import ServerProcesses

AUXILIARY_QUEUE = "pysoa:service.users.auxiliary"


def settings_on(redis_url: str) -> dict[str, Any]:
    """Settings shared by the primary service and its auxiliary server: Redis both ways,
    and a queued default processor sending through the same Redis."""
    return {
        "transport": {
            "path": SERVER_TRANSPORT,
            "kwargs": layer(redis_url, receive_timeout_in_seconds=0.2),
        },
        "auxiliary_processors": {
            "default": {
                "path": "servicewire.server.auxiliary:QueuedAuxProcessor",
                "kwargs": {
                    "client": {"transport": {"path": CLIENT_TRANSPORT, "kwargs": layer(redis_url)}}
                },
            }
        },
    }


def users_client(redis_url: str) -> Client:
    return Client({"users": {"transport": {"path": CLIENT_TRANSPORT, "kwargs": layer(redis_url)}}})


def test_auxiliary_actions_queued_in_redis_run_on_the_auxiliary_server(
    redis_url: str, probe: Probe
) -> None:
    settings = settings_on(redis_url)
    primary = UsersServer(settings)
    client = users_client(redis_url)
    request_id = client.send_request("users", [{"action": "create_user", "body": {"name": "ada"}}])
    primary.handle_next_request()

    response = dict(client.get_all_responses("users", 10))[request_id]

    assert response.actions[0].body == {"id": 42, "name": "ada"}
    assert probe.runs == []
    assert redis.Redis.from_url(redis_url).llen(AUXILIARY_QUEUE) == 2
    auxiliary = UsersAuxiliaryServer(settings)
    auxiliary.handle_next_request()
    auxiliary.handle_next_request()
    assert probe.names() == ["create_user:SendWelcomeEmail", "create_user:AuditTrail"]
    assert probe.runs[0].response_body == {"id": 42, "name": "ada"}
    primary.teardown()
    auxiliary.teardown()


def test_queued_auxiliary_call_survives_the_primary_process_being_killed(
    redis_url: str, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    settings = settings_on(redis_url)
    log = tmp_path / "welcome.log"
    primary = server_processes.start("tests.server.auxiliary.services:UsersServer", settings)
    client = users_client(redis_url)
    queue = redis.Redis.from_url(redis_url)

    response = client.call_action(
        "users", "create_user", {"name": "ada", "log": str(log)}, timeout=30
    )
    assert response.body == {"id": 42, "name": "ada"}
    wait_until(lambda: queue.llen(AUXILIARY_QUEUE) == 2, "the queued auxiliary calls", 30)
    primary.kill()

    assert not log.exists()
    auxiliary = server_processes.start(
        "tests.server.auxiliary.services:UsersAuxiliaryServer", settings
    )
    wait_until(log.exists, "the auxiliary action to run", 30)
    wait_until(lambda: queue.llen(AUXILIARY_QUEUE) == 0, "an empty queue", 30)
    assert log.read_text() == (
        f"{auxiliary.pid} create_user:SendWelcomeEmail {{'id': 42, 'name': 'ada'}}\n"
    )
    assert auxiliary.stop() == 0
