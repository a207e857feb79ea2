"""Server events: which fire, in which order, with what, and what a failing listener
cannot break."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from servicewire import (
    Action,
    ActionError,
    Client,
    EnrichedActionRequest,
    EnrichedJobRequest,
    Error,
    InvalidMessageError,
    Server,
)
from servicewire.server.events import EVENT_NAMES, ServerEvent, ServerEvents
from servicewire.transport.base import MessageDetails
from tests.support.local import local_server, serving
from tests.support.metrics import RecordingMetrics
from tests.support.transports import QueueServerTransport

JOB: dict[str, Any] = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c1", "switches": []},
    "actions": [{"action": "echo", "body": {"x": 1}}],
}


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.body)


class Refuse(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ActionError([Error("REFUSED", "No.")])


class Crash(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ValueError("kaboom")


class EventsServer(Server):
    service_name = "events"
    action_class_map = {"echo": Echo, "refuse": Refuse, "crash": Crash}


class Recorder:
    """A listener keeping every event it is given."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.events: list[ServerEvent] = []

    def __call__(self, event: ServerEvent) -> None:
        self.events.append(event)

    @property
    def names(self) -> list[str]:
        return [event.name for event in self.events]

    def listen(self, events: ServerEvents, *names: str) -> Recorder:
        for name in names or sorted(EVENT_NAMES):
            events.add_listener(name, self)
        return self

    def one(self, name: str) -> ServerEvent:
        (event,) = (event for event in self.events if event.name == name)
        return event


def queue_server(
    server_class: type[Server] = EventsServer, **settings: Any
) -> tuple[Server, QueueServerTransport]:
    server = server_class(
        {"transport": {"path": "tests.support.transports:QueueServerTransport"}, **settings}
    )
    assert isinstance(server.transport, QueueServerTransport)
    return server, server.transport


def test_successful_job_fires_its_events_in_order_with_their_payloads() -> None:
    with serving(EventsServer, {"transport": None}) as client:
        client.call_action("events", "status", {"verbose": False})  # builds the server
        server = local_server(client, "events")
        recorder = Recorder().listen(server.events)

        client.call_action("events", "echo", {"x": 1})

    assert recorder.names == [
        "job_received",
        "job_validated",
        "action_call",
        "action_return",
        "job_response",
        "server_stop",
    ]
    received = recorder.one("job_received")
    assert received.job_request["actions"] == [{"action": "echo", "body": {"x": 1}}]
    assert isinstance(received.message, MessageDetails)
    request_id = received.request_id
    assert request_id is not None
    # In-process: no queue, one delivery.
    assert received.message == MessageDetails(request_id, None, 1)
    validated = recorder.one("job_validated")
    assert isinstance(validated.job_request, EnrichedJobRequest)
    assert validated.job_request.actions[0].action == "echo"
    call = recorder.one("action_call")
    assert call.action_request is not None
    assert (call.action_request.action, call.action_request.body) == ("echo", {"x": 1})
    returned = recorder.one("action_return")
    assert returned.action_request is call.action_request
    assert returned.action_response is not None
    assert returned.action_response.body == {"x": 1}
    assert returned.errors == []
    response = recorder.one("job_response")
    assert response.job_response is not None
    assert response.job_response.actions[0].body == {"x": 1}
    assert response.job_request is received.job_request
    # Every event of the request carries the same transport details; the server's own don't.
    assert all(event.message == received.message for event in recorder.events[:-1])
    assert recorder.one("server_stop").message is None
    assert all(event.server is server for event in recorder.events)


@pytest.mark.parametrize(("action", "code"), [("refuse", "REFUSED"), ("crash", "SERVER_ERROR")])
def test_failed_action_fires_action_error_with_its_errors(action: str, code: str) -> None:
    server, transport = queue_server()
    recorder = Recorder().listen(server.events)
    transport.add_request(1, {**JOB, "actions": [{"action": action, "body": {}}]})

    server.handle_next_request()

    assert recorder.names == [
        "job_received",
        "job_validated",
        "action_call",
        "action_error",
        "job_response",
    ]
    assert [error.code for error in recorder.one("action_error").errors] == [code]
    # Over a transport that says nothing of its queue, the service's name stands for it.
    assert recorder.one("action_error").message == MessageDetails(1, "events", None)


def test_unknown_action_fires_action_error() -> None:
    server, transport = queue_server()
    recorder = Recorder().listen(server.events, "action_call", "action_error")
    transport.add_request(1, {**JOB, "actions": [{"action": "nope", "body": {}}]})

    server.handle_next_request()

    assert recorder.names == ["action_call", "action_error"]
    assert [error.code for error in recorder.one("action_error").errors] == ["UNKNOWN"]


def test_invalid_job_fires_job_error_and_is_never_validated() -> None:
    server, transport = queue_server()
    recorder = Recorder().listen(server.events)
    transport.add_request(1, {"actions": "not a list"})

    server.handle_next_request()

    assert recorder.names == ["job_received", "job_error"]
    event = recorder.one("job_error")
    assert event.job_request == {"actions": "not a list"}
    assert event.errors
    assert event.job_response is not None
    assert event.job_response.errors == event.errors
    assert transport.sent[0].body["errors"][0]["code"] == event.errors[0].code


def test_bad_message_fires_request_bad_message_with_the_error() -> None:
    server, transport = queue_server()
    recorder = Recorder().listen(server.events)
    error = InvalidMessageError("garbled", request_id=7, meta={})
    transport.incoming.append(error)

    server.handle_next_request()

    assert recorder.names == ["request_bad_message"]
    assert recorder.one("request_bad_message").error is error


def test_idle_server_fires_server_idle() -> None:
    server, _transport = queue_server()
    recorder = Recorder().listen(server.events)

    server.handle_next_request()

    assert recorder.names == ["server_idle"]


def test_setup_and_teardown_fire_server_start_and_server_stop() -> None:
    server, _transport = queue_server()
    recorder = Recorder().listen(server.events)

    server.setup()
    server.teardown()

    assert recorder.names == ["server_start", "server_stop"]


def test_raising_listener_is_logged_and_counted_and_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, transport = queue_server(metrics={"path": "tests.support.metrics:RecordingMetrics"})
    before = Recorder("before").listen(server.events, "action_call")

    def explode(event: ServerEvent) -> None:
        raise RuntimeError("listener bug")

    server.events.add_listener("action_call", explode)
    after = Recorder("after").listen(server.events, "action_call", "job_response")
    transport.add_request(1, JOB)

    with caplog.at_level(logging.ERROR, "servicewire.server.events"):
        server.handle_next_request()

    assert transport.sent[0].body["actions"][0] == {
        "action": "echo",
        "errors": [],
        "body": {"x": 1},
    }
    assert transport.completed == [1]
    assert before.names == ["action_call"]
    assert after.names == ["action_call", "job_response"]
    assert "listener bug" in caplog.text
    assert "'action_call' event of service 'events'" in caplog.text
    metrics = server.metrics
    assert isinstance(metrics, RecordingMetrics)
    assert metrics.count("server.error.event_listener", event="action_call") == 1


def test_listener_added_twice_runs_once_and_can_be_removed() -> None:
    server, transport = queue_server()
    recorder = Recorder()
    server.events.add_listener("action_call", recorder)
    server.events.add_listener("action_call", recorder)
    transport.add_request(1, JOB)
    server.handle_next_request()
    assert recorder.names == ["action_call"]

    server.events.remove_listener("action_call", recorder)
    transport.add_request(2, JOB)
    server.handle_next_request()

    assert recorder.names == ["action_call"]
    assert not server.events.active


def test_unknown_event_name_is_refused_naming_the_events() -> None:
    server, _transport = queue_server()

    with pytest.raises(ValueError, match=r"'job_recieved' is not a server event.*job_received"):
        server.events.add_listener("job_recieved", print)


class BaseOfTwo(Server):
    service_name = "base"
    action_class_map = {"echo": Echo}


class DerivedOfTwo(BaseOfTwo):
    service_name = "derived"


def test_class_listeners_run_base_class_first_then_class_then_server() -> None:
    calls: list[str] = []

    def listener(label: str) -> Any:
        return lambda event: calls.append(label)

    shared = listener("shared")
    BaseOfTwo.events.add_listener("action_call", listener("base"))
    BaseOfTwo.events.add_listener("action_call", shared)
    server, transport = queue_server(DerivedOfTwo)
    server.events.add_listener("action_call", listener("server"))
    server.events.add_listener("action_call", shared)
    # Added to the class after the server was built: the server still hears it.
    DerivedOfTwo.events.add_listener("action_call", listener("derived"))
    transport.add_request(1, JOB)

    server.handle_next_request()

    assert calls == ["base", "shared", "derived", "server"]
    # The base class's servers do not hear the derived class's listeners.
    assert [len(BaseOfTwo.events.listeners("action_call"))] == [2]


def test_a_class_without_listeners_is_not_active() -> None:
    server, _transport = queue_server()

    assert not EventsServer.events.active
    assert not server.events.active


def test_events_carry_the_sql_transports_details(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/queues.db"
    transport = {"path": "servicewire.transport.sql:SqlServerTransport", "kwargs": {"url": url}}
    server = EventsServer({"transport": transport})
    recorder = Recorder().listen(server.events, "job_received", "job_response")
    client = Client(
        {
            "events": {
                "transport": {**transport, "path": "servicewire.transport.sql:SqlClientTransport"}
            }
        }
    )
    try:
        request_id = client.send_request("events", [{"action": "echo", "body": {"x": 1}}])
        server.handle_next_request()
        assert dict(client.get_all_responses("events", 10))[request_id].actions[0].body == {"x": 1}
    finally:
        client.close()
        server.transport.close()  # type: ignore[union-attr]

    assert recorder.names == ["job_received", "job_response"]
    details = recorder.one("job_response").message
    assert details is not None
    assert (details.request_id, details.queue, details.delivery_attempt) == (
        request_id,
        "events",
        1,
    )


def test_without_listeners_or_auxiliary_actions_a_server_does_no_extra_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Timing belongs to the benchmarks; this pins that the work is not done at all. (The
    # server contains exceptions, so calls are counted rather than refused.)
    calls: list[Any] = []

    def never(*args: Any, **kwargs: Any) -> None:
        calls.append(args)

    for method in ("emit", "job_received", "job_done", "action_done", "request_done"):
        monkeypatch.setattr(ServerEvents, method, never)
    monkeypatch.setattr(QueueServerTransport, "message_details", never)
    monkeypatch.setattr("servicewire.server.events.ServerEvent", never)
    server, transport = queue_server()
    assert server._auxiliary is None
    transport.add_request(1, JOB)
    transport.add_request(2, {**JOB, "actions": [{"action": "crash", "body": {}}]})
    transport.add_request(3, {"actions": "not a list"})
    transport.incoming.append(InvalidMessageError("garbled", request_id=4, meta={}))

    server.setup()
    for _ in range(5):  # four requests, then an idle wait
        server.handle_next_request()
    server.teardown()

    assert [message.request_id for message in transport.sent] == [1, 2, 3, 4]
    assert calls == []
