"""Server processes for the tests, until the server runtime can start them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]


class ServerProcess:
    """A server in a child process; its output goes to ``log``."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        """SIGTERM, as an operator would; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: the process dies on the spot, whatever it was doing."""
        self.process.kill()
        self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class ServerProcesses:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[ServerProcess] = []

    def start(self, server_class: str, settings: dict[str, Any]) -> ServerProcess:
        log = self.directory / f"server-{len(self.started) + 1}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.transport.sql.serve",
                    server_class,
                    json.dumps(settings),
                ],
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(process, log)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                server.stop()


def wait_for(condition: Any, timeout: float = 30, message: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something true; fail after ``timeout`` s."""
    return wait_until(condition, message, timeout)


def environment_without(*names: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in names}
