"""Services the SQL transport tests run, in this process or in server processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from servicewire import Action, ActionError, EnrichedActionRequest, Error, Server
from servicewire.types import Body


class Record(Action):
    """Appends ``"<pid> <n>"`` to the file ``log`` (one line per run of the action)."""

    def run(self, request: EnrichedActionRequest) -> Body:
        body = request.body
        with open(body["log"], "a") as log:
            log.write(f"{os.getpid()} {body['n']}\n")
        # Long enough for competing servers to take their share of a burst of requests.
        time.sleep(body.get("pause", 0))
        return {"n": body["n"], "pid": os.getpid()}


class Hold(Action):
    """Writes its pid to ``started``, then waits until the file ``release`` exists."""

    def run(self, request: EnrichedActionRequest) -> Body:
        started, release = Path(request.body["started"]), Path(request.body["release"])
        started.write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"pid": os.getpid()}


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return dict(request.body)


class Fail(Record):
    """Records itself, then fails on the server's side (an unhandled exception) while the
    file ``trouble`` exists."""

    def run(self, request: EnrichedActionRequest) -> Body:
        super().run(request)
        if Path(request.body["trouble"]).exists():
            raise RuntimeError("the database of this service is down")
        return {}


class Refuse(Action):
    """Always a caller error."""

    def run(self, request: EnrichedActionRequest) -> Body:
        raise ActionError([Error(code="NOT_ALLOWED", message="not for you")])


class RecordingServer(Server):
    service_name = "recorder"
    action_class_map = {
        "record": Record,
        "hold": Hold,
        "echo": Echo,
        "fail": Fail,
        "refuse": Refuse,
    }
