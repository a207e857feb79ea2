"""Services the client tests run as real server processes (``servicewire serve``) on a
networked transport, beside ``test_expander``'s books and people."""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from servicewire import Action, EnrichedActionRequest, Server
from servicewire.types import Body
from tests.client.test_client import Math
from tests.transport.sql.services import Hold


class Identify(Action):
    """Answers with its ``n`` and the id of the process that ran it, after ``work`` seconds
    of (simulated) work, so that competing server processes each take a share."""

    def run(self, request: EnrichedActionRequest) -> Body:
        time.sleep(float(request.body.get("work", 0)))
        return {"n": request.body.get("n"), "pid": os.getpid()}


class RemoteMath(Math):
    """``test_client``'s math service, plus ``identify`` and ``hold`` (which waits until
    the file ``release`` exists: a latch the test opens)."""

    action_class_map: ClassVar[dict[str, Any]] = {
        **Math.action_class_map,
        "identify": Identify,
        "hold": Hold,
    }


class RelayToMath(Action):
    """Calls math's ``echo`` through ``request.client`` and answers with what it saw."""

    def run(self, request: EnrichedActionRequest) -> Body:
        echoed = request.client.call_action("math", "echo", {"from": "relay"})
        return {"callee": echoed.body, "own_context": request.context}


class Relay(Server):
    """A service calling another: its ``client_routing`` reaches math."""

    service_name = "relay"
    action_class_map: ClassVar[dict[str, Any]] = {"relay": RelayToMath}
