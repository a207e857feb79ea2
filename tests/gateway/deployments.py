"""The gateway tests' services as real server processes on Redis or SQLite, and gateways
in front of them served by a real uvicorn on a free loopback port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from servicewire import Client
from tests.client.deployments import Deployment as ClientTestDeployment
from tests.gateway.services import SIGNING_KEY_ID, SIGNING_SECRET
from tests.support.processes import DEADLINE, ServiceProcess, write_settings
from tests.support.waiting import wait_until

SERVERS = {"shop": "tests.gateway.services:Shop", "vault": "tests.gateway.services:Vault"}
SHOP_ACTIONS = ("crash", "divide", "inspect", "nap", "price_order")
"""What the tests' gateways expose of ``shop``: everything but ``secret``."""


class Deployment(ClientTestDeployment):
    """``shop`` and ``vault`` served on one transport (``server_transport`` and
    ``client_transport`` are the settings of each side; no ``full_queue`` here), stopped
    as the client tests' services are."""

    def client_config(self) -> dict[str, Any]:
        return {service: {"transport": self.client_transport} for service in SERVERS}

    def start(self, *services: str) -> None:
        """Start ``services`` (default: all), one after the other, each once the one before
        answers (so that they do not create the SQL transport's tables at the same time)."""
        client = Client(self.client_config())
        try:
            for service in services or tuple(SERVERS):
                settings: dict[str, Any] = {"transport": self.server_transport}
                if service == "vault":
                    settings["request_signing"] = {"keys": {SIGNING_KEY_ID: SIGNING_SECRET}}
                module = write_settings(self.folder, f"settings_{service}", settings)
                self.processes.append(ServiceProcess(self.folder, SERVERS[service], module))
                client.call_action(service, "status", timeout=DEADLINE)
        finally:
            client.close()


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with uvicorn, in a thread, on a free loopback port; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(DEADLINE)
        sock.close()
