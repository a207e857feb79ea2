"""A small service for the Redis transport tests."""

from __future__ import annotations

import threading
from typing import Any

from servicewire import Action, ActionError, EnrichedActionRequest, Error, Server
from servicewire.types import Body


class Echo(Action):
    """Answers with the request body."""

    def run(self, request: EnrichedActionRequest) -> Body:
        return dict(request.body)


class Big(Action):
    """Answers with ``size`` bytes of text, ``tag`` first."""

    def run(self, request: EnrichedActionRequest) -> Body:
        tag = str(request.body.get("tag", ""))
        return {"data": tag + "x" * (int(request.body["size"]) - len(tag))}


class Fail(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        raise ActionError([Error(code="NOPE", message="Failed on purpose", field="reason")])


class Wait(Action):
    """Blocks until the test sets ``EchoServer.release`` (or 10 s pass)."""

    def run(self, request: EnrichedActionRequest) -> Body:
        EchoServer.entered.set()
        EchoServer.release.wait(10)
        return {"waited": True}


class EchoServer(Server):
    service_name = "echo"
    action_class_map: Any = {"echo": Echo, "big": Big, "fail": Fail, "wait": Wait}
    entered = threading.Event()
    release = threading.Event()
