"""Work-queue delivery between processes, with servers run as an operator runs them
(``servicewire serve --fork N``): competing workers, a worker killed mid-request, a graceful
shutdown, and harakiri while a lease is being renewed."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from servicewire import ERROR_CODE_ACTION_TIMEOUT, Client
from tests.support.processes import ServiceProcess, wait_until
from tests.transport.sql.conftest import SqlDatabase
from tests.transport.sql.processes import ServerProcesses

SERVER = "tests.transport.sql.services:RecordingServer"


def record(log: Path, n: int, pause: float = 0) -> dict[str, Any]:
    """The action ``record``: appends ``"<pid> <n>"`` to ``log``, then works ``pause`` s."""
    return {"action": "record", "body": {"log": str(log), "n": n, "pause": pause}}


def runs(log: Path) -> list[tuple[int, int]]:
    """``(pid, n)`` for each run of ``record`` logged in ``log``."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [(int(pid), int(n)) for pid, n in (line.split() for line in lines)]


def hold(folder: Path) -> dict[str, Any]:
    """The action ``hold``: writes its pid to ``folder/started``, then waits until the file
    ``folder/release`` exists."""
    return {
        "action": "hold",
        "body": {"started": str(folder / "started"), "release": str(folder / "release")},
    }


def holder_pid(folder: Path) -> int:
    """The pid of the process that started ``hold`` (once one has)."""
    started = folder / "started"
    return int(wait_until(lambda: started.exists() and started.read_text(), "the job to start"))


def serve(
    database: SqlDatabase,
    processes: ServerProcesses,
    workers: int,
    transport: dict[str, Any] | None = None,
    **settings: Any,
) -> tuple[ServiceProcess, Client]:
    """``servicewire serve --fork workers`` of the recording service on ``database`` (the
    transport waiting for work at most 1 s at a time, plus ``transport`` settings; the
    server's ``settings``), and a client of it."""
    kwargs = {"receive_timeout_in_seconds": 1, **(transport or {})}
    server_settings = {"transport": database.server_transport(**kwargs), **settings}
    service = processes.start(SERVER, server_settings, "--fork", str(workers))
    return service, database.client()


def test_forked_workers_never_run_a_request_twice(
    database: SqlDatabase, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    service, client = serve(database, server_processes, 3)
    log = tmp_path / "runs.log"
    count = 120

    sent = {
        client.send_request(
            "recorder", [record(log, n, pause=0.005)], message_expiry_in_seconds=120
        ): n
        for n in range(count)
    }
    responses = dict(client.get_all_responses("recorder", receive_timeout_in_seconds=60))

    assert {sent[request_id] for request_id in responses} == set(range(count))
    assert all(response.errors == [] for response in responses.values())
    assert sorted(n for _pid, n in runs(log)) == list(range(count))  # each ran exactly once
    by_worker = Counter(pid for pid, _n in runs(log))
    assert len(by_worker) >= 2, f"one worker did all the work: {by_worker}"
    assert service.pid not in by_worker  # the supervisor serves nothing itself


def test_a_worker_killed_mid_request_loses_nothing(
    database: SqlDatabase, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    service, client = serve(database, server_processes, 2, {"visibility_timeout_in_seconds": 1})
    request_id = client.send_request("recorder", [hold(tmp_path)], message_expiry_in_seconds=120)
    doomed = holder_pid(tmp_path)

    os.kill(doomed, signal.SIGKILL)
    (tmp_path / "release").touch()
    responses = dict(client.get_all_responses("recorder", receive_timeout_in_seconds=30))

    assert responses[request_id].errors == []
    assert responses[request_id].actions[0].body["pid"] not in {doomed, service.pid}
    assert database.execute(select(database.tables.requests)) == []
    assert "delivered for the 2nd time" in service.log
    assert "respawning it" in service.log
    assert service.stop() == 0


def test_sigterm_finishes_the_running_job_and_gives_back_what_was_not_started(
    database: SqlDatabase, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    # A redelivery would take the visibility timeout (30 s): the waits below are shorter.
    service, client = serve(database, server_processes, 1)
    log = tmp_path / "runs.log"
    running = client.call_actions_future("recorder", [hold(tmp_path)], timeout=60)
    worker = holder_pid(tmp_path)
    waiting = client.call_actions_future("recorder", [record(log, 1)], timeout=60)

    service.send(signal.SIGTERM)
    wait_until(lambda: "finishing the current job" in service.log, "the worker to be told")
    (tmp_path / "release").touch()

    assert running.result(timeout=10).actions[0].body == {"pid": worker}
    assert service.wait() == 0
    assert runs(log) == []
    # Taken with the running job's reply (PostgreSQL) or never taken (SQLite), the waiting
    # request is served by the next server at once.
    serve(database, server_processes, 1)
    successor = waiting.result(timeout=10).actions[0].body["pid"]
    assert successor != worker
    assert runs(log) == [(successor, 1)]


def test_harakiri_answers_a_stuck_job_once_though_it_outlives_its_lease(
    database: SqlDatabase, server_processes: ServerProcesses, tmp_path: Path
) -> None:
    # The job runs 2 s before harakiri stops it, twice the visibility timeout: only the
    # renewals of its lease keep the other worker from taking it too.
    service, client = serve(
        database,
        server_processes,
        2,
        {"visibility_timeout_in_seconds": 1},
        harakiri={"timeout": 2, "shutdown_grace": 5},
    )
    log = tmp_path / "runs.log"

    response = client.call_actions(
        "recorder", [record(log, 1, pause=60)], raise_action_errors=False, timeout=30
    )

    [error] = response.actions[0].errors
    assert error.code == ERROR_CODE_ACTION_TIMEOUT
    [(stuck, _)] = runs(log)
    assert database.execute(select(database.tables.requests)) == []
    assert database.execute(select(database.tables.dead_letters)) == []
    wait_until(lambda: "respawning it" in service.log, "the worker to be respawned")
    assert "Harakiri" in service.log
    answers = client.call_actions("recorder", [record(log, 2)], timeout=30)
    assert answers.actions[0].body["pid"] != stuck
    assert [n for _pid, n in runs(log)] == [1, 2]
    assert service.stop() == 0, service.log
