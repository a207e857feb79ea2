"""The client tests' services deployed as real server processes on one networked transport
(Redis, SQLite or PostgreSQL), started with ``servicewire serve`` as an operator would, and
clients of them.

``math`` runs as two worker processes (``--fork 2``); ``books``, ``people`` and ``relay``
(which calls ``math`` through ``request.client``) as one each. ``broken`` has no server and
a queue that holds one request, kept full: every send to it fails with ``MessageSendError``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from servicewire import AsyncClient, Client, JobResponse, MessageReceiveTimeout, MessageSendError
from tests.client.test_expander import EXPANSIONS
from tests.support.processes import DEADLINE, ServiceProcess, wait_until, write_settings

SQUARE_OF_7 = {"action": "square", "body": {"number": 7}}


def one_job(action: dict[str, Any]) -> list[dict[str, Any]]:
    """``call_jobs_parallel``'s argument for one job of ``action`` to math."""
    return [{"service_name": "math", "actions": [action]}]


def first_body(response: Any) -> Any:
    """The body of the first action, whatever the call style returned."""
    if isinstance(response, list):
        response = response[0]
    if isinstance(response, JobResponse):
        response = response.actions[0]
    return response.body


def identify_all(count: int) -> list[dict[str, Any]]:
    """``count`` actions that say which process ran them, each after a little work."""
    return [{"action": "identify", "body": {"n": n, "work": 0.002}} for n in range(count)]


def hold(folder: Path) -> dict[str, Any]:
    """The action ``hold``: it waits until the test creates the file ``folder/release``."""
    return {
        "action": "hold",
        "body": {"started": str(folder / "started"), "release": str(folder / "release")},
    }


SHORT_TIMEOUT = 0.5
"""The timeout of the calls that a held action makes too slow."""


def check_a_slow_call_times_out_in_time(
    folder: Path, call: Callable[[dict[str, Any]], Any]
) -> None:
    """``call(body)`` calls math's ``hold`` with ``body`` and :data:`SHORT_TIMEOUT`: it raises
    ``MessageReceiveTimeout`` within the timeout plus 2 s. The held action is let go after."""
    started = time.monotonic()
    try:
        with pytest.raises(MessageReceiveTimeout, match="'math'"):
            call(hold(folder)["body"])
        assert time.monotonic() - started < SHORT_TIMEOUT + 2
    finally:
        (folder / "release").touch()


def check_what_came_in_time_is_returned_beside_a_timeout(
    folder: Path, call: Callable[[list[dict[str, Any]]], list[Any]]
) -> None:
    """``call(actions)`` calls math's ``actions`` in parallel with :data:`SHORT_TIMEOUT`,
    catching transport errors: the square of 7 comes back in time, beside a timeout in place
    of the held action, within the timeout plus 2 s."""
    started = time.monotonic()
    try:
        square, slow = call([SQUARE_OF_7, hold(folder)])
        assert time.monotonic() - started < SHORT_TIMEOUT + 2
    finally:
        (folder / "release").touch()
    assert square.body == {"square": 49}
    assert isinstance(slow, MessageReceiveTimeout)


SERVERS = {
    "math": "tests.client.remote_services:RemoteMath",
    "books": "tests.client.test_expander:Books",
    "people": "tests.client.test_expander:People",
    "relay": "tests.client.remote_services:Relay",
}
WORKERS = {"math": 2}


class Deployment:
    """Services on one transport: ``server_transport`` and ``client_transport`` are the
    transport settings (``{"path": ..., "kwargs": ...}``) of each side; ``full_queue``
    the extra client transport settings under which a queue of one request is full and a
    send to it fails at once."""

    def __init__(
        self,
        kind: str,
        folder: Path,
        server_transport: dict[str, Any],
        client_transport: dict[str, Any],
        full_queue: dict[str, Any],
    ) -> None:
        self.kind = kind
        self.folder = folder
        self.server_transport = server_transport
        self.client_transport = client_transport
        self.full_queue = {"queue_capacity": 1, **full_queue}
        self.processes: list[ServiceProcess] = []
        self.math_pids: set[int] = set()

    # --- clients --------------------------------------------------------------------------

    def settings(self, **transport_kwargs: Any) -> dict[str, Any]:
        """The client settings of one service of this deployment."""
        kwargs = {**self.client_transport["kwargs"], **transport_kwargs}
        return {"transport": {"path": self.client_transport["path"], "kwargs": kwargs}}

    def config(self) -> dict[str, Any]:
        """The client configuration of every service, ``broken`` included."""
        config = {service: self.settings() for service in SERVERS}
        config["broken"] = self.settings(**self.full_queue)
        return config

    def client(self, **kwargs: Any) -> Client:
        return Client(self.config(), expansion_config=EXPANSIONS, **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncClient:
        return AsyncClient(self.config(), expansion_config=EXPANSIONS, **kwargs)

    def fill_broken_queue(self) -> None:
        """Queue one request that nobody will take for ``broken`` (if none is queued yet)."""
        client = self.client()
        try:
            client.send_request(
                "broken",
                [{"action": "echo"}],
                suppress_response=True,
                message_expiry_in_seconds=600,
            )
        except MessageSendError:
            pass  # full already
        finally:
            client.close()

    # --- servers --------------------------------------------------------------------------

    def start(self, *services: str) -> None:
        """Start ``services`` and wait until each serves (each worker of ``math``)."""
        for service in services:
            settings: dict[str, Any] = {"transport": self.server_transport}
            if service == "relay":
                settings["client_routing"] = {"math": self.settings()}
            module = write_settings(self.folder, f"settings_{service}", settings)
            workers = WORKERS.get(service)
            options = ("--fork", str(workers)) if workers else ()
            self.processes.append(ServiceProcess(self.folder, SERVERS[service], module, *options))
        client = self.client()
        try:
            for service in services:
                if service == "math":
                    wait_until(lambda: self._both_math_workers_answered(client), "two workers")
                else:
                    client.call_action(service, "status", timeout=DEADLINE)
        finally:
            client.close()

    def _both_math_workers_answered(self, client: Client) -> bool:
        identify = {"action": "identify", "body": {"work": 0.01}}
        for response in client.call_actions_parallel("math", [identify] * 4, timeout=DEADLINE):
            self.math_pids.add(response.body["pid"])
        return len(self.math_pids) >= WORKERS["math"]

    def stop(self) -> None:
        """SIGTERM to every server at once, then wait for each to exit."""
        for process in self.processes:
            if process.process.poll() is None:
                process.send(signal.SIGTERM)
        for process in self.processes:
            process.wait()
