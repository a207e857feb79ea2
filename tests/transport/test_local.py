"""The local transport: a server inside the client, run in the caller's thread; and its
asyncio twin, which runs the server in worker threads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

import pytest

from servicewire import (
    Action,
    Client,
    EnrichedActionRequest,
    InvalidSettings,
    MessageReceiveError,
    MessageReceiveTimeout,
    Server,
)
from servicewire.server.received import ReceivedRequest
from servicewire.server.serving import Serving
from servicewire.transport.local import (
    AsyncLocalClientTransport,
    LocalClientTransport,
    LocalServerTransport,
)

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


# --- the asyncio twin ---------------------------------------------------------------------


class Gated(Action):
    """Runs until the test opens its gate (by the value in the request body)."""

    gates: ClassVar[dict[str, threading.Event]] = {}
    started: ClassVar[dict[str, threading.Event]] = {}

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        name = request.body["gate"]
        self.started[name].set()
        assert self.gates[name].wait(30), f"the test never opened gate {name}"
        return {"gate": name, "thread": threading.get_ident()}


class FallibleServing(Serving):
    def handle_request(self, request: ReceivedRequest) -> None:
        if request.body["actions"][0]["action"] == "crash":
            raise RuntimeError("the server fell over")
        super().handle_request(request)


class Fallible(Lifecycle):
    action_class_map: ClassVar[dict[str, Any]] = {"who": WhoAmI, "gated": Gated}

    serving_class = FallibleServing


def gates(*names: str) -> dict[str, threading.Event]:
    Gated.gates = {name: threading.Event() for name in names}
    Gated.started = {name: threading.Event() for name in names}
    return Gated.gates


def job(action: str, **body: Any) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c", "switches": []},
        "actions": [{"action": action, "body": body}],
    }


def test_the_local_transport_names_its_asyncio_twin() -> None:
    from servicewire.settings import import_path

    assert import_path(LocalClientTransport.async_transport_class or "") is (
        AsyncLocalClientTransport
    )


def test_the_asyncio_twin_sets_up_once_and_tears_down_on_close() -> None:
    async def main() -> None:
        transport = AsyncLocalClientTransport("lifecycle", server_class=Lifecycle)
        assert LIFECYCLE == ["setup"]
        await transport.send_request_message(1, {}, job("who"))
        assert (await transport.receive_response_message()).request_id == 1
        await transport.aclose()
        assert LIFECYCLE == ["setup", "teardown"]

    LIFECYCLE.clear()
    asyncio.run(main())


def test_the_asyncio_twin_runs_the_server_in_a_worker_thread() -> None:
    async def main() -> None:
        transport = AsyncLocalClientTransport("lifecycle", server_class=Fallible)
        gates("a")["a"].set()
        await transport.send_request_message(1, {}, job("gated", gate="a"))
        reply = await transport.receive_response_message()
        assert reply.body is not None
        assert reply.body["actions"][0]["body"]["thread"] != threading.get_ident()
        await transport.aclose()

    asyncio.run(main())


def test_replies_come_as_jobs_finish_each_with_its_request_id() -> None:
    async def main() -> None:
        transport = AsyncLocalClientTransport("lifecycle", server_class=Fallible)
        opened = gates("first", "second")
        await transport.send_request_message(1, {}, job("gated", gate="first"))
        await transport.send_request_message(2, {}, job("gated", gate="second"))
        opened["second"].set()
        second = await transport.receive_response_message()
        opened["first"].set()
        first = await transport.receive_response_message()
        assert (second.request_id, first.request_id) == (2, 1)
        assert second.body is not None
        assert second.body["actions"][0]["body"]["gate"] == "second"
        await transport.aclose()

    asyncio.run(main())


def test_the_asyncio_twin_times_out_while_the_server_works() -> None:
    async def main() -> None:
        transport = AsyncLocalClientTransport("lifecycle", server_class=Fallible)
        opened = gates("slow")
        await transport.send_request_message(1, {}, job("gated", gate="slow"))
        with pytest.raises(MessageReceiveTimeout, match="'lifecycle'"):
            await transport.receive_response_message(0.01)
        opened["slow"].set()
        assert (await transport.receive_response_message()).request_id == 1
        await transport.aclose()

    asyncio.run(main())


def test_the_asyncio_twin_has_nothing_to_receive_when_idle() -> None:
    async def main() -> None:
        transport = AsyncLocalClientTransport("lifecycle", server_class=Lifecycle)
        assert await transport.receive_response_message(0.01) == (None, None, None)
        silent = {**job("who"), "control": {"continue_on_error": False, "suppress_response": True}}
        await transport.send_request_message(1, {}, silent)
        assert await transport.receive_response_message() == (None, None, None)
        await transport.aclose()

    asyncio.run(main())


def test_a_server_failure_is_a_receive_error_naming_its_request() -> None:
    async def main() -> None:
        transport = AsyncLocalClientTransport("lifecycle", server_class=Fallible)
        await transport.send_request_message(7, {}, job("crash"))
        with pytest.raises(MessageReceiveError, match="request 7") as caught:
            await transport.receive_response_message()
        assert getattr(caught.value, "request_id", None) == 7
        assert isinstance(caught.value.__cause__, RuntimeError)
        await transport.aclose()

    asyncio.run(main())


def test_closing_waits_for_the_requests_the_server_is_handling() -> None:
    async def main() -> None:
        transport = AsyncLocalClientTransport("lifecycle", server_class=Fallible)
        opened = gates("last")
        await transport.send_request_message(1, {}, job("gated", gate="last"))
        closing = asyncio.create_task(transport.aclose())
        await asyncio.to_thread(Gated.started["last"].wait, 30)
        assert not closing.done()
        opened["last"].set()
        await closing
        assert LIFECYCLE[-1] == "teardown"

    asyncio.run(main())
