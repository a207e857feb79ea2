"""Services run as real processes, as an operator runs them: ``servicewire serve`` (or
``Server.main()``) with a settings module written for the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import wait_until

__all__ = ["DEADLINE", "ROOT", "ServiceProcess", "wait_until", "write_settings"]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0


def write_settings(folder: Path, module: str, settings: Mapping[str, Any]) -> str:
    """Write ``settings`` as the settings module ``module`` in ``folder``; return its name."""
    (folder / f"{module}.py").write_text(f"SOA_SERVER_SETTINGS = {dict(settings)!r}\n")
    return module


class ServiceProcess:
    """``servicewire serve <server> -s <settings module> <options>`` in a child process
    (``launcher="main"``: ``<server class>.main()``), with ``folder`` (where the settings
    module is) and the project on its path; its output goes to a log file in ``folder``."""

    def __init__(
        self,
        folder: Path,
        server: str,
        settings_module: str,
        *options: str,
        launcher: str = "cli",
        env: Mapping[str, str] | None = None,
    ) -> None:
        if launcher == "cli":
            command = [sys.executable, "-m", "servicewire.cli", "serve", server]
        else:
            module, _, name = server.partition(":")
            command = [sys.executable, "-c", f"from {module} import {name}; {name}.main()"]
        self.output = folder / f"output-{settings_module}.log"
        environment = {
            **os.environ,
            "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}",
            **(env or {}),
        }
        with open(self.output, "wb") as output:
            self.process = subprocess.Popen(
                [*command, "-s", settings_module, *options],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def send(self, number: int) -> None:
        self.process.send_signal(number)

    def wait(self, timeout: float = DEADLINE) -> int:
        """Wait for the process to exit; return its status (fail the test if it does not)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the process did not exit in {timeout} s; its output:\n{self.log}")

    def stop(self) -> int:
        """SIGTERM, as an operator would; return the exit status."""
        if self.process.poll() is None:
            self.send(signal.SIGTERM)
        return self.wait()

    def kill(self) -> None:
        """SIGKILL: the process dies on the spot, whatever it was doing."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)
