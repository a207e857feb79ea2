"""Metrics: what servers and clients record, under which names, and nothing when disabled."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from servicewire import (
    Action,
    ActionError,
    EnrichedActionRequest,
    Error,
    MessageReceiveTimeout,
    MetricName,
    MetricsRecorder,
    Server,
)
from servicewire.client.handler import ServiceHandler
from servicewire.client.settings import ClientSettings
from servicewire.metrics import NoOpMetricsRecorder
from servicewire.server.received import parse_request
from servicewire.transport.base import ClientTransport, ReceivedMessage
from servicewire.types import JobRequest
from tests.support.local import serving

SERVER_GUIDE = Path(__file__).resolve().parent.parent / "docs" / "server-guide.md"


class Recorded:
    """Every call made to any :class:`RecordingRecorder`, in order."""

    lock = threading.Lock()
    calls: ClassVar[list[tuple[str, str, float, dict[str, str]]]] = []


class RecordingRecorder(MetricsRecorder):
    def counter(self, name: str, value: int = 1, tags: Any = None) -> None:
        self._record("counter", name, value, tags)

    def timer(self, name: str, seconds: float, tags: Any = None) -> None:
        self._record("timer", name, seconds, tags)

    def histogram(self, name: str, value: float, tags: Any = None) -> None:
        self._record("histogram", name, value, tags)

    def flush(self) -> None:
        self._record("flush", "", 0, None)

    @staticmethod
    def _record(kind: str, name: str, value: float, tags: Any) -> None:
        with Recorded.lock:
            Recorded.calls.append((kind, name, value, dict(tags or {})))


@pytest.fixture(autouse=True)
def _no_recorded_calls() -> Iterator[None]:
    Recorded.calls.clear()
    yield
    Recorded.calls.clear()


def recorded(kind: str, name: str) -> list[tuple[float, dict[str, str]]]:
    return [(value, tags) for k, n, value, tags in Recorded.calls if (k, n) == (kind, name)]


class Ok(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class Refuse(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ActionError([Error(code="NOT_ALLOWED", message="no")])


class Break(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise RuntimeError("bug")


class MeteredServer(Server):
    service_name = "metered"
    action_class_map = {"ok": Ok, "refuse": Refuse, "break": Break}


RECORDING = {"path": f"{__name__}:RecordingRecorder"}


def test_a_request_records_its_receipt_dispatch_action_and_send() -> None:
    with serving(MeteredServer, {"metrics": RECORDING}) as client:
        client.call_actions("metered", [{"action": "ok"}, {"action": "ok"}])
    assert [value for value, _ in recorded("counter", MetricName.SERVER_REQUEST_RECEIVED)] == [1]
    for name in (
        MetricName.SERVER_REQUEST_HANDLE,
        MetricName.SERVER_JOB_PROCESS,
        MetricName.SERVER_RESPONSE_SEND,
    ):
        [(seconds, tags)] = recorded("timer", name)
        assert seconds >= 0
        assert tags == {}
    action_runs = recorded("timer", MetricName.SERVER_ACTION_RUN)
    assert [tags for _, tags in action_runs] == [{"action": "ok"}, {"action": "ok"}]
    [(handled, _)] = recorded("timer", MetricName.SERVER_REQUEST_HANDLE)
    [(processed, _)] = recorded("timer", MetricName.SERVER_JOB_PROCESS)
    assert handled >= processed >= sum(seconds for seconds, _ in action_runs)
    assert recorded("flush", "")


def test_action_errors_are_counted_by_action_and_code() -> None:
    with serving(MeteredServer, {"metrics": RECORDING}) as client:
        client.call_actions(
            "metered",
            [{"action": "refuse"}, {"action": "break"}, {"action": "nope"}],
            continue_on_error=True,
            raise_action_errors=False,
        )
    assert [tags for _, tags in recorded("counter", MetricName.SERVER_ACTION_ERROR)] == [
        {"action": "refuse", "code": "NOT_ALLOWED"},
        {"action": "break", "code": "SERVER_ERROR"},
        {"action": "nope", "code": "UNKNOWN"},
    ]
    assert len(recorded("counter", MetricName.SERVER_ERROR_UNHANDLED)) == 1


def test_job_errors_are_counted_by_code() -> None:
    with serving(MeteredServer, {"metrics": RECORDING}) as client:
        server = client._get_handler("metered").transport.server  # type: ignore[attr-defined]
        server.serving.handle_request(
            parse_request(
                1,
                {},
                {
                    "control": {"continue_on_error": False},
                    "context": {"correlation_id": "c", "switches": []},
                    "actions": [],
                },
            )
        )
    [(_, tags)] = recorded("counter", MetricName.SERVER_JOB_ERROR)
    assert tags == {"code": "INVALID"}
    assert len(recorded("counter", MetricName.SERVER_ERROR_JOB)) == 1


def test_a_client_records_its_sends_and_receives_per_service() -> None:
    with serving(MeteredServer, metrics=RECORDING) as client:
        client.call_action("metered", "ok")
    [(_, send_tags)] = recorded("timer", MetricName.CLIENT_REQUEST_SEND)
    [(_, receive_tags)] = recorded("timer", MetricName.CLIENT_RESPONSE_RECEIVE)
    assert send_tags == receive_tags == {"service": "metered"}


class SilentTransport(ClientTransport):
    """A transport whose service never answers, and later answers the wrong request."""

    def __init__(self, service_name: str, metrics: MetricsRecorder, **kwargs: Any) -> None:
        super().__init__(service_name, metrics)
        self.stray_reply = False

    def send_request_message(self, *args: Any, **kwargs: Any) -> None:
        pass

    def receive_response_message(self, timeout: float | None = None) -> ReceivedMessage:
        if self.stray_reply:
            self.stray_reply = False
            return ReceivedMessage(999_999_999, {}, {"actions": [], "errors": []})
        raise MessageReceiveTimeout("nothing came")


def test_a_client_counts_timeouts_and_replies_nobody_waits_for() -> None:
    settings = ClientSettings.from_dict(
        {"transport": {"path": f"{__name__}:SilentTransport"}, "metrics": RECORDING}
    )
    handler = ServiceHandler("silent", settings)
    request_id = handler.send_request(JobRequest(control={}, context={}, actions=[]))
    with pytest.raises(MessageReceiveTimeout):
        handler.wait_for([request_id], timeout=5)
    assert recorded("counter", MetricName.CLIENT_RESPONSE_TIMEOUT) == [(1, {"service": "silent"})]
    handler.transport.stray_reply = True  # type: ignore[attr-defined]
    with pytest.raises(MessageReceiveTimeout):
        handler.wait_for([handler.send_request(JobRequest(control={}, context={}, actions=[]))])
    assert recorded("counter", MetricName.CLIENT_RESPONSE_DROPPED) == [(1, {"service": "silent"})]


class ExplodingNoOpRecorder(NoOpMetricsRecorder):
    """Disabled, so it must never be called."""

    def counter(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a disabled recorder was called")

    timer = histogram = flush = counter


def test_a_disabled_recorder_is_never_called() -> None:
    exploding = {"path": f"{__name__}:ExplodingNoOpRecorder"}
    with serving(MeteredServer, {"metrics": exploding}, metrics=exploding) as client:
        client.call_actions(
            "metered",
            [{"action": "ok"}, {"action": "refuse"}, {"action": "break"}],
            continue_on_error=True,
            raise_action_errors=False,
        )


def test_every_metric_name_is_unique_and_documented_in_the_server_guide() -> None:
    names = {
        attribute: value
        for attribute, value in vars(MetricName).items()
        if attribute.isupper() and isinstance(value, str)
    }
    assert len(set(names.values())) == len(names)
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", SERVER_GUIDE.read_text(), re.MULTILINE))
    assert documented == set(names.values())
