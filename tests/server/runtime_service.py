"""A service run as a real process by the runtime and command-line tests.

Markers (files under the directory named by ``SW_TEST_MARKERS``) record what ran:
``pre_fork``, ``initialize`` (one line per call), ``setup`` (one line per call).
``SW_TEST_CRASH_SETUP=1`` makes ``setup`` fail, so that the worker dies at start-up;
``SW_TEST_HOLD_INITIALIZE=<path>`` makes ``initialize`` wait until that file exists (at most
30 s), so that a worker can be signalled while it starts.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from servicewire import Action, EnrichedActionRequest, Server, ServerSettings
from servicewire.types import Body


def mark(name: str) -> None:
    folder = os.environ.get("SW_TEST_MARKERS")
    if folder:
        with open(Path(folder) / name, "a") as marker:
            marker.write(f"{os.getpid()}\n")


class Whoami(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return {"pid": os.getpid(), "echo": request.body.get("echo")}


class Sleep(Action):
    """Writes ``entered`` (a path) then sleeps ``seconds``."""

    def run(self, request: EnrichedActionRequest) -> Body:
        Path(request.body["entered"]).write_text(str(os.getpid()))
        time.sleep(float(request.body["seconds"]))
        return {"slept": request.body["seconds"], "pid": os.getpid()}


class Hold(Action):
    """Writes ``entered`` (a path) then waits until the file ``release`` exists."""

    def run(self, request: EnrichedActionRequest) -> Body:
        Path(request.body["entered"]).write_text(str(os.getpid()))
        release = Path(request.body["release"])
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"pid": os.getpid()}


class Stubborn(Action):
    """Swallows every interrupt (as badly written code can): only a forced exit stops it."""

    def run(self, request: EnrichedActionRequest) -> Body:
        Path(request.body["entered"]).write_text(str(os.getpid()))
        while True:
            with contextlib.suppress(BaseException):
                time.sleep(30)


class RuntimeServer(Server):
    service_name = "runtime"
    action_class_map: Any = {
        "whoami": Whoami,
        "sleep": Sleep,
        "hold": Hold,
        "stubborn": Stubborn,
    }

    @classmethod
    def pre_fork(cls) -> None:
        mark("pre_fork")

    @classmethod
    def initialize(cls, settings: ServerSettings) -> type[Server]:
        mark("initialize")
        release = os.environ.get("SW_TEST_HOLD_INITIALIZE")
        if release:
            deadline = time.monotonic() + 30
            while not Path(release).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().initialize(settings)

    def setup(self) -> None:
        super().setup()
        mark("setup")
        if os.environ.get("SW_TEST_CRASH_SETUP"):
            raise RuntimeError("setup fails on purpose")
