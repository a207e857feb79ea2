"""Services with auxiliary actions, for the tests in this process and in server processes.

The auxiliary actions report to :data:`probe` (in this process) or, when the request names
a ``log`` file, append a line to it (in any process).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from servicewire import ActionError, Error, Server
from servicewire.server.action import Action
from servicewire.server.auxiliary import (
    AuxiliaryAction,
    AuxiliaryActionRequest,
    auxiliary_server,
)
from servicewire.types import Body


@dataclass
class Run:
    """One run of an auxiliary action, as it saw it."""

    action: str
    primary_action: str
    body: Body
    response_body: Body
    errors: list[str]
    correlation_id: str | None
    switches: set[int]
    thread: int


@dataclass
class Probe:
    runs: list[Run] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: AuxiliaryActionRequest) -> None:
        response = request.primary_response
        with self.lock:
            self.runs.append(
                Run(
                    request.action,
                    request.primary_action,
                    request.body,
                    response.body,
                    [error.code for error in response.errors],
                    request.context.get("correlation_id"),
                    set(request.switches),
                    threading.get_ident(),
                )
            )

    def names(self) -> list[str]:
        with self.lock:
            return [run.action for run in self.runs]


probe = Probe()


class CreateUserRequest(BaseModel):
    name: str
    fail: bool = False
    hold: bool = False
    log: str | None = None


class CreateUser(Action):
    """Creates a user (or fails, if asked to)."""

    request_schema = CreateUserRequest

    def run(self, request: Any) -> Body:
        if request.body.get("fail"):
            raise ActionError([Error("NAME_TAKEN", "That name is taken.", field="name")])
        return {"id": 42, "name": request.body["name"]}


class SendWelcomeEmail(AuxiliaryAction):
    """Records itself; holds until released when the request says ``hold``."""

    def run(self, request: AuxiliaryActionRequest) -> Body:
        probe.record(request)
        if request.body.get("hold"):
            probe.started.set()
            if not probe.release.wait(30):
                raise RuntimeError("never released")
        log = request.body.get("log")
        if log:
            with open(log, "a") as output:
                output.write(f"{os.getpid()} {request.action} {request.primary_response.body}\n")
        probe.finished.set()
        return {}


class AuditTrail(AuxiliaryAction):
    """Records every attempt, failed or not."""

    process_exceptions = True

    def run(self, request: AuxiliaryActionRequest) -> Body:
        probe.record(request)
        return {}


class Explode(AuxiliaryAction):
    """Fails, after damaging its copy of the request and of the primary's response."""

    def run(self, request: AuxiliaryActionRequest) -> Body:
        request.body["name"] = "damaged"
        request.primary_response.body["id"] = -1
        probe.record(request)
        raise RuntimeError("the mail server is down")


class UsersServer(Server):
    service_name = "users"
    action_class_map = {"create_user": CreateUser}
    auxiliary_action_map = {"create_user": [SendWelcomeEmail, AuditTrail]}


UsersAuxiliaryServer = auxiliary_server(UsersServer)


class HoldUntilReleased(Action):
    """An auxiliary action of processes: writes ``started`` then waits for ``release``."""

    def run(self, request: Any) -> Body:
        Path(request.body["started"]).write_text(str(os.getpid()))
        release = Path(request.body["release"])
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(request.body["log"], "a") as output:
            output.write(f"{os.getpid()} {request.action}\n")
        return {}


class Mark(Action):
    def run(self, request: Any) -> Body:
        return {"marked": True}


class SlowAuditServer(Server):
    """A primary whose auxiliary action holds its auxiliary server until released."""

    service_name = "marks"
    action_class_map = {"mark": Mark}
    auxiliary_action_map = {"mark": [HoldUntilReleased]}


SlowAuditAuxiliaryServer = auxiliary_server(SlowAuditServer)
