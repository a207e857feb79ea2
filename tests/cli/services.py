"""The service the command-line tests call, in a process of its own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from servicewire import Action, ActionError, EnrichedActionRequest, Error, Server
from servicewire.server.builtin import BaseStatusAction


class Greeting(BaseModel):
    name: str
    times: int = 1


class Greet(Action):
    """Greets someone by name.

    Repeats the greeting ``times`` times."""

    request_schema = Greeting

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body["name"] == "nobody":
            raise ActionError([Error(code="NOBODY", message="nobody cannot be greeted")])
        return {
            "greeting": " ".join([f"Hello, {request.body['name']}!"] * request.body.get("times", 1))
        }


class Echo(Action):
    """Returns what the request carried: its body, switches and context."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {
            "body": request.body,
            "switches": sorted(request.switches),
            "context": {k: v for k, v in request.context.items() if k != "switches"},
        }


class Status(BaseStatusAction):
    @property
    def _version(self) -> str:
        return "2.1.0"

    @property
    def _build(self) -> str:
        return "build-7"

    def check_marker(self, request: EnrichedActionRequest) -> Any:
        # Unhealthy while the marker file exists, so a test can make it fail.
        marker = Path(os.environ["SW_CLI_UNHEALTHY"])
        if marker.exists():
            return [(True, "DISK_FULL", marker.read_text())]
        return [(False, "DISK_LOW", "90% used")]


class GreeterServer(Server):
    """Greets people."""

    service_name = "greeter"
    action_class_map = {"greet": Greet, "echo": Echo, "status": Status}
