"""PySOA's ``ClientTransport.requests_outstanding`` on servicewire's client transports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servicewire import Action, EnrichedActionRequest, Server
from servicewire.transport import ClientTransport
from servicewire.transport.local import LocalClientTransport
from servicewire.transport.sql import SqlClientTransport

REQUEST = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c", "switches": []},
    "actions": [{"action": "echo", "body": {}}],
}


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.body)


class EchoServer(Server):
    service_name = "echo"
    action_class_map = {"echo": Echo}


def test_local_transport_counts_the_responses_not_yet_received() -> None:
    transport = LocalClientTransport(
        "echo", server_class=EchoServer, server_settings={"transport": None}
    )
    try:
        assert transport.requests_outstanding == 0
        transport.send_request_message(1, {}, REQUEST)
        transport.send_request_message(2, {}, REQUEST)
        assert transport.requests_outstanding == 2
        transport.receive_response_message()
        assert transport.requests_outstanding == 1
    finally:
        transport.close()


def test_sql_transport_counts_the_replies_still_expected(tmp_path: Path) -> None:
    transport = SqlClientTransport("echo", url=f"sqlite:///{tmp_path / 'q.db'}")
    try:
        assert transport.requests_outstanding == 0
        transport.send_request_message(1, {}, REQUEST)
        assert transport.requests_outstanding == 1
    finally:
        transport.close()


def test_a_transport_that_does_not_count_says_so() -> None:
    class Uncounted(ClientTransport):
        def send_request_message(self, *args: Any, **kwargs: Any) -> None:
            pass

        def receive_response_message(self, *args: Any, **kwargs: Any) -> Any:
            return None

    with pytest.raises(NotImplementedError, match="Uncounted does not count"):
        _ = Uncounted("x").requests_outstanding
