"""The command-line tests' service: one process per module, over SQLite or Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servicewire import Client
from servicewire.transport.sql.database import close_databases
from tests.support.processes import ServiceProcess, wait_until, write_settings

SERVER = "tests.cli.services:GreeterServer"


@dataclass
class RunningService:
    """A greeter process and the ``--transport`` URL that reaches it."""

    transport_url: str
    process: ServiceProcess
    unhealthy_marker: Path


def _client_transport(url: str) -> dict[str, Any]:
    from servicewire.cli.client_settings import transport_from_url

    return transport_from_url(url)


def _server_transport(url: str) -> dict[str, Any]:
    client = _client_transport(url)
    path = client["path"].replace("ClientTransport", "ServerTransport")
    return {"path": path, "kwargs": {**client["kwargs"], "receive_timeout_in_seconds": 0.2}}


def start_greeter(folder: Path, transport_url: str) -> RunningService:
    marker = folder / "unhealthy"
    module = write_settings(
        folder, "greeter_settings", {"transport": _server_transport(transport_url)}
    )
    process = ServiceProcess(folder, SERVER, module, env={"SW_CLI_UNHEALTHY": str(marker)})
    client = Client({"greeter": {"transport": _client_transport(transport_url)}})

    def answers() -> bool:
        try:
            client.call_action("greeter", "status", {"verbose": False}, timeout=1)
        except Exception:
            return False
        return True

    try:
        wait_until(answers, "the greeter to answer")
    finally:
        client.close()
    return RunningService(transport_url, process, marker)


@pytest.fixture(scope="module")
def sqlite_greeter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    folder = tmp_path_factory.mktemp("greeter-sqlite")
    service = start_greeter(folder, f"sqlite:///{folder}/queues.db")
    yield service
    service.process.stop()
    close_databases()


@pytest.fixture(scope="module")
def redis_greeter(
    tmp_path_factory: pytest.TempPathFactory, redis_server: Any
) -> Iterator[RunningService]:
    folder = tmp_path_factory.mktemp("greeter-redis")
    service = start_greeter(folder, redis_server.url)
    yield service
    service.process.stop()


@dataclass
class Outcome:
    status: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Any:
    """``run(*arguments)``: the ``servicewire`` command in this process; its status and output."""
    from servicewire.cli import main

    def run_command(*arguments: str) -> Outcome:
        capsys.readouterr()
        try:
            status = main(list(arguments))
        except SystemExit as exit_request:
            status = int(exit_request.code or 0)
        captured = capsys.readouterr()
        return Outcome(status, captured.out, captured.err)

    return run_command
