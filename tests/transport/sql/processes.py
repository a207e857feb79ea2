"""Servers in child processes for the SQL transport tests, run by ``servicewire serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.processes import ServiceProcess, write_settings


class ServerProcesses:
    """Starts servers in child processes (each with its own settings module); stops those
    still running at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[ServiceProcess] = []

    def start(self, server_class: str, settings: dict[str, Any], *options: str) -> ServiceProcess:
        """``servicewire serve server_class`` with ``settings`` and command-line ``options``
        (``--fork 2``, say)."""
        module = write_settings(self.directory, f"settings_{len(self.started) + 1}", settings)
        server = ServiceProcess(self.directory, server_class, module, *options)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
