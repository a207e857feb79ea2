"""The local transport: a server inside the client, run in the caller's thread."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest

from servicewire import (
    Action,
    Client,
    EnrichedActionRequest,
    InvalidSettings,
    MessageReceiveTimeout,
    Server,
)
from servicewire.transport.local import LocalClientTransport, LocalServerTransport

LIFECYCLE: list[str] = []
SETTINGS = {"extra_fields_to_redact": ["colour"]}


class WhoAmI(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {
            "thread": threading.get_ident(),
            "redacted": sorted(self.settings.extra_fields_to_redact),
        }  # type: ignore[union-attr]


class Lifecycle(Server):
    service_name = "lifecycle"
    action_class_map: ClassVar[dict[str, Any]] = {"who": WhoAmI}

    def setup(self) -> None:
        LIFECYCLE.append("setup")

    def teardown(self) -> None:
        LIFECYCLE.append("teardown")


def client_for(**kwargs: Any) -> Client:
    return Client(
        {
            "lifecycle": {
                "transport": {
                    "path": "servicewire.transport.local:LocalClientTransport",
                    "kwargs": kwargs,
                }
            }
        }
    )


def test_the_server_runs_in_the_callers_thread() -> None:
    body = client_for(server_class=Lifecycle).call_action("lifecycle", "who").body
    assert body["thread"] == threading.get_ident()


def test_the_server_class_and_settings_may_be_import_paths() -> None:
    client = client_for(
        server_class="tests.transport.test_local:Lifecycle",
        server_settings="tests.transport.test_local:SETTINGS",
    )
    assert client.call_action("lifecycle", "who").body["redacted"] == ["colour"]


def test_the_server_is_set_up_once_and_torn_down_on_close() -> None:
    LIFECYCLE.clear()
    client = client_for(server_class=Lifecycle)
    client.call_action("lifecycle", "who")
    client.call_action("lifecycle", "who")
    assert LIFECYCLE == ["setup"]
    client.close()
    assert LIFECYCLE == ["setup", "teardown"]


def test_a_bad_server_class_is_rejected_at_client_construction() -> None:
    with pytest.raises(InvalidSettings, match="server_class"):
        client_for(server_class="builtins:dict")
    with pytest.raises(InvalidSettings, match="server_class"):
        client_for(server_class="no_such_module_here:Server")
    with pytest.raises(InvalidSettings, match="server_class: required"):
        client_for()
    with pytest.raises(InvalidSettings, match="colour: unknown key"):
        client_for(server_class=Lifecycle, colour="red")


def test_bad_server_settings_fail_when_the_transport_is_built() -> None:
    client = client_for(server_class=Lifecycle, server_settings={"harakiri": {"timeout": -1}})
    with pytest.raises(InvalidSettings, match=r"harakiri\.timeout"):
        client.call_action("lifecycle", "who")


def test_threads_use_their_own_slots() -> None:
    client = client_for(server_class=Lifecycle)
    all_running = threading.Barrier(4)
    mismatches: list[tuple[int, int]] = []

    def work() -> None:
        all_running.wait()
        for _ in range(50):
            body = client.call_action("lifecycle", "who").body
            if body["thread"] != threading.get_ident():
                mismatches.append((body["thread"], threading.get_ident()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


def test_nothing_to_receive_returns_the_empty_message() -> None:
    transport = LocalClientTransport("lifecycle", server_class=Lifecycle)
    assert transport.receive_response_message() == (None, None, None)
    with pytest.raises(MessageReceiveTimeout):
        transport.receive_request_message()


def test_the_server_side_placeholder_receives_nothing() -> None:
    placeholder = LocalServerTransport("lifecycle")
    with pytest.raises(MessageReceiveTimeout):
        placeholder.receive_request_message()
