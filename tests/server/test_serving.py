"""Serving: how a server receives, answers and accounts for requests, malformed ones
included."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import msgpack
import pytest
import redis

from servicewire import Action, EnrichedActionRequest, MetricName, Server
from servicewire.server.auxiliary import AuxiliaryAction, AuxiliaryActionRequest
from servicewire.server.received import parse_request
from servicewire.transport.redis.protocol import ProtocolVersion, build_frame, encode_envelope
from servicewire.types import Body
from tests.support.metrics import RECORDING_METRICS, metrics_of
from tests.support.transports import QueueServerTransport, TellingQueueServerTransport
from tests.transport.redis.support import layer, serving

SECRET = "hunter2-not-for-logs"


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return dict(request.body)


class Echoing(Server):
    service_name = "echoing"
    action_class_map: ClassVar[dict[str, Any]] = {"echo": Echo}


def job(**control: Any) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False, **control},
        "context": {"correlation_id": "cid", "switches": []},
        "actions": [{"action": "echo", "body": {"password": SECRET, "n": 1}}],
    }


def queue_server() -> tuple[Echoing, QueueServerTransport]:
    server = Echoing(
        {
            "transport": {"path": "tests.support.transports:QueueServerTransport"},
            "metrics": RECORDING_METRICS,
        }
    )
    assert isinstance(server.transport, QueueServerTransport)
    return server, server.transport


@pytest.mark.parametrize("client_version", [[None, 1], [1, "4", 9], "1.4.9", [], 7])
def test_a_malformed_client_version_is_answered_invalid_logged_once_counted_and_serving_goes_on(
    client_version: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, transport = queue_server()
    transport.incoming.append((3, {"client_version": client_version, "password": SECRET}, job()))  # type: ignore[arg-type]
    transport.add_request(4, job())
    with caplog.at_level(logging.DEBUG, logger="servicewire"):
        server.handle_next_request()
        server.handle_next_request()

    rejected, served = transport.sent
    assert rejected.request_id == 3
    assert rejected.body is not None
    assert rejected.body["actions"] == []
    [error] = rejected.body["errors"]
    assert error["code"] == "INVALID"
    assert error["field"] == "meta.client_version"
    assert "client_version must be a list of integers" in error["message"]
    assert transport.completed == [3, 4]
    assert served.body is not None
    assert served.body["actions"][0]["body"]["n"] == 1

    [line] = [r for r in caplog.records if "bad message" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert line.exc_info is None
    assert SECRET not in caplog.text
    metrics = metrics_of(server)
    assert metrics.counts[MetricName.SERVER_ERROR_BAD_MESSAGE] == 1


def test_a_malformed_meta_with_no_reply_wanted_is_not_answered_but_is_completed() -> None:
    server, transport = queue_server()
    transport.incoming.append((3, {"client_version": ["x"]}, job(suppress_response=True)))  # type: ignore[arg-type]
    server.handle_next_request()
    assert transport.sent == []
    assert transport.completed == [3]


def test_a_malformed_meta_is_told_to_the_bad_message_listeners() -> None:
    server, transport = queue_server()
    seen: list[Any] = []
    server.events.add_listener("request_bad_message", seen.append)
    transport.incoming.append((3, {"client_version": [1, None]}, job()))  # type: ignore[arg-type]
    server.handle_next_request()
    [event] = seen
    assert event.error.request_id == 3
    assert "client_version" in str(event.error)


def test_the_listeners_get_the_typed_response_that_was_sent() -> None:
    server, transport = queue_server()
    responses: list[Any] = []
    server.events.add_listener("job_response", responses.append)
    transport.add_request(5, job())
    server.handle_next_request()
    [event] = responses
    assert event.job_response.actions[0].body == {"password": SECRET, "n": 1}
    assert event.job_response.context == {"correlation_id": "cid"}


def test_handle_request_takes_a_parsed_request() -> None:
    server, transport = queue_server()
    server.serving.handle_request(parse_request(6, {"client_version": [1, 4, 9]}, job()))
    [(request_id, _, body)] = transport.sent
    assert request_id == 6
    assert body["actions"][0]["body"]["n"] == 1


def test_a_malformed_client_version_over_redis_is_answered_and_the_server_serves_on(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis_client = redis.Redis.from_url(redis_url)
    reply_to = "service.echoing.test!000000000001"
    serializer_type = "application/msgpack"

    def push(request_id: int, meta: dict[str, Any]) -> None:
        from servicewire.serializer import MsgpackSerializer

        payload = encode_envelope(
            request_id, {"reply_to": reply_to, **meta}, job(), MsgpackSerializer()
        )
        redis_client.rpush(
            "pysoa:service.echoing",
            build_frame(payload, ProtocolVersion.VERSION_3, serializer_type),
        )

    def pop() -> dict[str, Any]:
        item = redis_client.blpop(["pysoa:" + reply_to], timeout=10)
        assert item is not None, "no reply arrived"
        frame = bytes(item[1])
        payload = frame[frame.index(b";") + 1 :]
        reply: dict[str, Any] = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        return reply

    with caplog.at_level(logging.WARNING, logger="servicewire.server"):
        with serving(Echoing, layer(redis_url), metrics=RECORDING_METRICS) as server:
            push(11, {"client_version": [1, None, 9]})
            push(12, {"client_version": [1, 4, 9]})
            first, second = pop(), pop()
            metrics = metrics_of(server)
    redis_client.close()
    assert first["request_id"] == 11
    [error] = first["body"]["errors"]
    assert (error["code"], error["field"]) == ("INVALID", "meta.client_version")
    assert second["request_id"] == 12
    assert second["body"]["actions"][0]["body"]["n"] == 1
    assert metrics.counts[MetricName.SERVER_ERROR_BAD_MESSAGE] == 1
    assert "Error while handling a request" not in caplog.text


# --- a response sent with the next receive ------------------------------------------------


class Nothing(AuxiliaryAction):
    def run(self, request: AuxiliaryActionRequest) -> Body:
        return {}


class ServingUntilIdle(Echoing):
    """Stops serving once no request is queued."""

    def perform_idle_actions(self) -> None:
        super().perform_idle_actions()
        self.shutting_down = True


class WithPostRequestActions(ServingUntilIdle):
    def perform_post_request_actions(self) -> None:
        super().perform_post_request_actions()


class WithAuxiliaryActions(ServingUntilIdle):
    auxiliary_action_map: ClassVar[dict[str, Any]] = {"echo": [Nothing]}


def served_until_idle(server_class: type[Server], requests: int = 2, **settings: Any) -> list[bool]:
    """Serve ``requests`` queued requests in the serving loop; what each response's
    ``send_response_message`` was told of ``receive_follows``."""
    server = server_class(
        {"transport": {"path": "tests.support.transports:TellingQueueServerTransport"}, **settings}
    )
    transport = server.transport
    assert isinstance(transport, TellingQueueServerTransport)
    for request_id in range(requests):
        transport.add_request(request_id, job())
    server.run()
    assert [sent.request_id for sent in transport.sent] == list(range(requests))
    return transport.told


def test_in_the_serving_loop_a_transport_is_told_the_next_receive_follows_each_response() -> None:
    assert served_until_idle(ServingUntilIdle) == [True, True]


def test_a_transport_is_not_told_when_something_that_may_take_long_runs_after_the_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert served_until_idle(WithPostRequestActions) == [False, False]
    assert served_until_idle(WithAuxiliaryActions) == [False, False]
    assert served_until_idle(ServingUntilIdle, metrics=RECORDING_METRICS) == [False, False]
    with caplog.at_level(logging.DEBUG, logger="servicewire.server.job"):
        assert served_until_idle(ServingUntilIdle) == [False, False]


def test_a_transport_is_not_told_when_an_event_listener_or_a_worker_pool_is_in_the_way() -> None:
    class Listened(ServingUntilIdle):
        pass

    Listened.events.add_listener("job_response", lambda event: None)
    assert served_until_idle(Listened) == [False, False]
    assert served_until_idle(ServingUntilIdle, workers=2) == [False, False]


def test_outside_the_serving_loop_a_response_is_sent_without_waiting_for_a_receive() -> None:
    server = ServingUntilIdle(
        {"transport": {"path": "tests.support.transports:TellingQueueServerTransport"}}
    )
    transport = server.transport
    assert isinstance(transport, TellingQueueServerTransport)
    transport.add_request(1, job())
    server.handle_next_request()
    assert transport.told == [False]
    assert [sent.request_id for sent in transport.sent] == [1]


def test_a_transport_without_the_keyword_serves_in_the_loop_as_before() -> None:
    class Plain(ServingUntilIdle):
        pass

    server = Plain({"transport": {"path": "tests.support.transports:QueueServerTransport"}})
    transport = server.transport
    assert isinstance(transport, QueueServerTransport)
    transport.add_request(1, job())
    transport.add_request(2, job())
    server.run()
    assert [sent.request_id for sent in transport.sent] == [1, 2]
