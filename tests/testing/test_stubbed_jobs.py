"""A partly stubbed job runs as the service would run it: the stubs answer their actions, the
rest is left to send, part by part, and one reply holds every action's response."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from servicewire.errors import JobError
from servicewire.testing.stubbed_jobs import JobsInFlight, StubbedJob
from servicewire.transport.base import ReceivedMessage
from servicewire.types import Error


class Answering:
    """A stub answering each request with its body, or failing as told."""

    def __init__(self, name: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.service_name = "svc"
        self.action_name = name
        self.errors = errors or []
        self.calls: list[Any] = []

    def respond(
        self,
        request: Mapping[str, Any],
        switches: Iterable[object],
        local_server_class: type | None,
    ) -> dict[str, Any] | JobError:
        self.calls.append(request.get("body"))
        return {"action": self.action_name, "errors": self.errors, "body": {"stubbed": True}}


def job(*names: str, continue_on_error: bool = False) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": continue_on_error},
        "context": {"correlation_id": "c", "switches": []},
        "actions": [{"action": name, "body": {"n": i}} for i, name in enumerate(names)],
    }


def real(*names: str) -> dict[str, Any]:
    return {
        "errors": [],
        "context": {"correlation_id": "c"},
        "actions": [{"action": name, "errors": [], "body": {"real": True}} for name in names],
    }


def test_the_unstubbed_actions_are_left_to_send_in_runs_and_the_reply_holds_all() -> None:
    stub = Answering("b")
    running = StubbedJob(job("a", "b", "c", "d"), [None, stub, None, None], None, 7, {}, 5, True)
    running.start()
    assert running.part is not None
    assert [action["action"] for action in running.part["actions"]] == ["a"]
    running.resume(real("a"))
    assert running.part is not None
    assert [action["action"] for action in running.part["actions"]] == ["c", "d"]
    running.resume(real("c", "d"))
    assert running.part is None
    assert [action["body"] for action in running.reply["actions"]] == [
        {"real": True},
        {"stubbed": True},
        {"real": True},
        {"real": True},
    ]
    assert stub.calls == [{"n": 1}]


def test_a_failing_stub_stops_the_job_unless_it_continues_on_error() -> None:
    failing = Answering("a", errors=[{"code": "NO", "message": "no"}])
    stopped = StubbedJob(job("a", "b"), [failing, None], None, 1, {}, None, True).start()
    assert stopped.part is None
    assert [action["action"] for action in stopped.reply["actions"]] == ["a"]
    going_on = StubbedJob(
        job("a", "b", continue_on_error=True), [failing, None], None, 1, {}, None, True
    ).start()
    assert going_on.part is not None


def test_a_job_error_from_a_stub_fails_the_whole_job() -> None:
    class Refusing(Answering):
        def respond(self, *args: Any) -> dict[str, Any] | JobError:
            return JobError([Error("DOWN", "down")])

    running = StubbedJob(job("a"), [Refusing("a")], None, 1, {}, None, True).start()
    assert running.reply["errors"] == [Error("DOWN", "down").to_dict()]


def test_a_job_without_a_reply_calls_every_stub_then_sends_the_rest_at_once() -> None:
    stub = Answering("b")
    running = StubbedJob(job("a", "b", "c"), [None, stub, None], None, 1, {}, None, False)
    running.start()
    assert stub.calls == [{"n": 1}]
    assert running.part is not None
    assert [action["action"] for action in running.part["actions"]] == ["a", "c"]


def test_jobs_in_flight_turn_the_service_reply_into_the_next_part_or_the_whole_reply() -> None:
    in_flight = JobsInFlight()
    running = StubbedJob(job("a", "b"), [None, Answering("b")], None, 3, {}, None, True).start()
    with in_flight.sending(running) as part:
        assert part["actions"][0]["action"] == "a"
    other = ReceivedMessage(4, {}, real("x"))
    assert in_flight.on_reply(other) is other
    whole = in_flight.on_reply(ReceivedMessage(3, {"m": 1}, real("a")))
    assert isinstance(whole, ReceivedMessage)
    assert (whole.request_id, whole.meta) == (3, {"m": 1})
    assert len(whole.body["actions"]) == 2  # type: ignore[index]
    assert not in_flight
