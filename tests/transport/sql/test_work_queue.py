"""Work-queue delivery between processes: competing servers, and servers that die."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from tests.support.processes import wait_until
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.processes import ServerProcesses

SERVER = "tests.transport.sql.services:RecordingServer"


def test_competing_servers_never_run_a_request_twice(
    database: SqlDatabase, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    settings = {"transport": database.server_transport(receive_timeout_in_seconds=1)}
    servers = [server_processes.start(SERVER, settings) for _ in range(3)]
    client = database.client()
    log = tmp_path / "runs.log"
    count = 120

    sent = {
        client.send_request(
            "recorder",
            [{"action": "record", "body": {"log": str(log), "n": n, "pause": 0.005}}],
            message_expiry_in_seconds=120,
        ): n
        for n in range(count)
    }
    responses = dict(client.get_all_responses("recorder", receive_timeout_in_seconds=60))

    assert {sent[request_id] for request_id in responses} == set(range(count))
    assert all(response.errors == [] for response in responses.values())
    runs = [line.split() for line in log.read_text().splitlines()]
    assert sorted(int(n) for _pid, n in runs) == list(range(count))  # each ran exactly once
    by_server = Counter(int(pid) for pid, _n in runs)
    assert len(by_server) >= 2, f"one server did all the work: {by_server}"
    assert set(by_server) <= {server.pid for server in servers}


def test_request_of_a_killed_server_is_delivered_again_and_answered(
    database: SqlDatabase, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    settings = {
        "transport": database.server_transport(
            visibility_timeout_in_seconds=1, receive_timeout_in_seconds=1
        )
    }
    doomed = server_processes.start(SERVER, settings)
    client = database.client()
    started, release = tmp_path / "started", tmp_path / "release"
    request_id = client.send_request(
        "recorder",
        [{"action": "hold", "body": {"started": str(started), "release": str(release)}}],
        message_expiry_in_seconds=120,
    )
    wait_until(started.exists, "the first server to start the job")
    assert started.read_text() == str(doomed.pid)

    doomed.kill()
    release.touch()
    survivor = server_processes.start(SERVER, settings)
    responses = dict(client.get_all_responses("recorder", receive_timeout_in_seconds=30))

    assert responses[request_id].errors == []
    assert responses[request_id].actions[0].body == {"pid": survivor.pid}
    assert database.execute(select(database.tables.requests)) == []
    assert "delivered for the 2nd time" in survivor.log
