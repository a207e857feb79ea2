"""The service handler: reply matching, buffering, timeouts bounding the whole wait."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from servicewire import JobRequest, JobResponse, MessageReceiveError, MessageReceiveTimeout
from servicewire.client.handler import CLIENT_PROTOCOL_VERSION, ServiceHandler
from servicewire.client.settings import ClientSettings
from servicewire.transport.base import ClientTransport, ReceivedMessage


class ScriptedTransport(ClientTransport):
    """Replies come from a script; each receive records the timeout it was given."""

    def __init__(self, service_name: str, metrics: Any, **kwargs: Any) -> None:
        super().__init__(service_name, metrics)
        self.sent: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        self.replies: list[ReceivedMessage | BaseException] = []
        self.timeouts: list[float | None] = []

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        self.sent.append((request_id, meta, body))

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        self.timeouts.append(receive_timeout_in_seconds)
        if not self.replies:
            raise MessageReceiveTimeout("nothing")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


def make_handler() -> tuple[ServiceHandler, ScriptedTransport]:
    handler = ServiceHandler(
        "svc", ClientSettings.from_dict({"transport": {"path": ScriptedTransport}})
    )
    assert isinstance(handler.transport, ScriptedTransport)
    return handler, handler.transport


def reply(request_id: int, marker: str) -> ReceivedMessage:
    return ReceivedMessage(request_id, {}, JobResponse(context={"m": marker}).to_dict())


def test_send_request_sends_the_job_dict_with_the_protocol_version() -> None:
    handler, transport = make_handler()
    request_id = handler.send_request(JobRequest(control={"a": 1}), 5)
    ((sent_id, meta, body),) = transport.sent
    assert sent_id == request_id
    assert meta == {"client_version": list(CLIENT_PROTOCOL_VERSION)}
    assert body == {"control": {"a": 1}, "context": {}, "actions": []}


def test_replies_for_other_requests_are_kept_for_their_waiters() -> None:
    handler, transport = make_handler()
    first = handler.send_request(JobRequest())
    second = handler.send_request(JobRequest())
    transport.replies += [reply(second, "b"), reply(first, "a")]
    assert handler.wait_for([first])[first].context == {"m": "a"}
    # The second reply was buffered: no receive is needed for it.
    transport.replies.clear()
    assert handler.wait_for([second])[second].context == {"m": "b"}


def test_unknown_replies_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    handler, transport = make_handler()
    request_id = handler.send_request(JobRequest())
    transport.replies += [reply(request_id + 1000, "stale"), reply(request_id, "mine")]
    with caplog.at_level("WARNING"):
        assert handler.wait_for([request_id])[request_id].context == {"m": "mine"}
    assert str(request_id + 1000) in caplog.text


def test_the_timeout_bounds_the_whole_wait() -> None:
    handler, transport = make_handler()
    ids = [handler.send_request(JobRequest()) for _ in range(3)]
    transport.replies += [reply(ids[0], "a"), reply(ids[1], "b")]
    with pytest.raises(MessageReceiveTimeout, match=str(ids[2])):
        handler.wait_for(ids, timeout=2.0)
    assert len(transport.timeouts) == 3
    assert all(t is not None and 0 < t <= 2.0 for t in transport.timeouts)
    assert transport.timeouts == sorted(transport.timeouts, reverse=True)


def test_without_a_timeout_each_receive_uses_the_transports_default() -> None:
    handler, transport = make_handler()
    request_id = handler.send_request(JobRequest())
    transport.replies.append(reply(request_id, "a"))
    handler.wait_for([request_id])
    assert transport.timeouts == [None]


def test_giving_up_forgets_the_request_so_its_late_reply_is_dropped() -> None:
    handler, _transport = make_handler()
    request_id = handler.send_request(JobRequest())
    with pytest.raises(MessageReceiveTimeout):
        handler.wait_for([request_id], timeout=0.5)
    assert list(handler.get_all_responses()) == []


def test_not_giving_up_keeps_waiting_possible() -> None:
    handler, transport = make_handler()
    request_id = handler.send_request(JobRequest())
    with pytest.raises(MessageReceiveTimeout):
        handler.wait_for([request_id], timeout=0.5, give_up_on_timeout=False)
    transport.replies.append(reply(request_id, "late"))
    assert handler.wait_for([request_id])[request_id].context == {"m": "late"}


def test_a_transport_with_nothing_coming_is_a_receive_error() -> None:
    handler, transport = make_handler()
    request_id = handler.send_request(JobRequest())
    transport.replies.append(ReceivedMessage(None, None, None))
    with pytest.raises(MessageReceiveError, match=str(request_id)):
        handler.wait_for([request_id])


def test_get_all_responses_yields_every_outstanding_reply() -> None:
    handler, transport = make_handler()
    ids = [handler.send_request(JobRequest()) for _ in range(3)]
    transport.replies += [reply(ids[2], "c"), reply(ids[0], "a"), reply(ids[1], "b")]
    got = dict(handler.get_all_responses())
    assert {request_id: response.context["m"] for request_id, response in got.items()} == {
        ids[0]: "a",
        ids[1]: "b",
        ids[2]: "c",
    }


def test_requests_without_a_reply_are_not_waited_for() -> None:
    handler, _ = make_handler()
    handler.send_request(JobRequest(), expect_response=False)
    assert list(handler.get_all_responses()) == []


def test_forget_later_drops_requests_when_the_owner_is_collected() -> None:
    handler, _transport = make_handler()
    request_id = handler.send_request(JobRequest())

    class Owner:
        pass

    owner = Owner()
    handler.forget_later(owner, [request_id])
    assert request_id in handler._state().outstanding
    del owner
    assert request_id not in handler._state().outstanding


# --- telling the transport whether a reply comes ------------------------------------------


class TellingTransport(ScriptedTransport):
    """Notes, for each request, whether it was told a reply is expected."""

    def __init__(self, service_name: str, metrics: Any, **kwargs: Any) -> None:
        super().__init__(service_name, metrics, **kwargs)
        self.told: list[bool] = []

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
    ) -> None:
        self.told.append(expects_reply)
        super().send_request_message(request_id, meta, body, message_expiry_in_seconds)


def test_the_transport_is_told_whether_a_reply_is_expected() -> None:
    handler = ServiceHandler(
        "svc", ClientSettings.from_dict({"transport": {"path": TellingTransport}})
    )
    transport = handler.transport
    assert isinstance(transport, TellingTransport)
    handler.send_request(JobRequest())
    # Told by the caller, whatever the job's control says.
    handler.send_request(JobRequest(control={"suppress_response": False}), expect_response=False)
    handler.send_request(JobRequest(control={"suppress_response": True}))
    assert transport.told == [True, False, True]


def test_a_transport_without_the_expects_reply_keyword_still_sends() -> None:
    # ScriptedTransport's send_request_message is written as before the keyword existed.
    handler, transport = make_handler()
    silent = handler.send_request(JobRequest(), expect_response=False)
    answered = handler.send_request(JobRequest())
    assert [sent[0] for sent in transport.sent] == [silent, answered]
    transport.replies.append(reply(answered, "a"))
    assert dict(handler.get_all_responses()) == {answered: JobResponse(context={"m": "a"})}


def test_the_transport_signature_is_read_once_not_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[object] = []
    signature = inspect.signature

    def counting_signature(function: Any) -> inspect.Signature:
        read.append(function)
        return signature(function)

    monkeypatch.setattr(inspect, "signature", counting_signature)
    handler, transport = make_handler()
    for _ in range(3):
        handler.send_request(JobRequest(), expect_response=False)
    assert len(transport.sent) == 3
    assert len(read) == 1
