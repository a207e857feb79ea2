"""Invokers: how concurrent calls to one action run, with real threads (and over Redis)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from servicewire import (
    ActionError,
    ActionResponse,
    ConcurrentInvoker,
    DeduplicatingInvoker,
    EnrichedActionRequest,
    Error,
    ImproperlyConfigured,
    Invoker,
    SerializedInvoker,
    ServerMiddleware,
)
from servicewire.server.invokers import InvokerStatistics
from servicewire.server.middleware import ProcessAction
from servicewire.server.workers import _interrupt
from tests.server.concurrency_services import (
    DEADLINE,
    ConcurrencyServer,
    Deduplicated,
    Echo,
    Probe,
    call,
    running,
)
from tests.support.waiting import wait_until


def request(body: dict[str, Any] | None = None, switches: list[int] | None = None) -> Any:
    return EnrichedActionRequest("act", body or {}, switches or [])


class Execution:
    """An ``execute`` for invokers: counts runs and overlaps, and waits for the test."""

    def __init__(self, result: Callable[[EnrichedActionRequest], ActionResponse] | None = None):
        self.condition = threading.Condition()
        self.runs = 0
        self.running = 0
        self.most = 0
        self.order: list[Any] = []
        self.gate = threading.Event()
        self.result = result or (lambda req: ActionResponse("act", body={"echo": req.body}))

    def __call__(self, req: EnrichedActionRequest) -> ActionResponse:
        with self.condition:
            self.runs += 1
            self.running += 1
            self.most = max(self.most, self.running)
            self.order.append(req.body.get("n"))
            self.condition.notify_all()
        try:
            if not self.gate.wait(DEADLINE):
                raise RuntimeError("the gate never opened")
            return self.result(req)
        finally:
            with self.condition:
                self.running -= 1

    def wait_runs(self, count: int) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: self.runs >= count, DEADLINE)


class Callers:
    """Threads calling an invoker; each keeps its outcome (a response or an exception)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.outcomes: dict[int, Any] = {}

    def start(self, invoker: Invoker, execute: Any, req: Any, number: int) -> threading.Thread:
        def call() -> None:
            try:
                self.outcomes[number] = invoker.invoke(req, execute)
            except BaseException as error:
                self.outcomes[number] = error

        thread = threading.Thread(target=call, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def join(self) -> dict[int, Any]:
        for thread in self.threads:
            thread.join(DEADLINE)
            assert not thread.is_alive()
        return self.outcomes


def wait_statistics(invoker: Any, expected: Callable[[InvokerStatistics], bool]) -> None:
    wait_until(lambda: expected(invoker.statistics()), "the invoker's callers")


# --- concurrent and serialized --------------------------------------------------------------


def test_the_concurrent_invoker_lets_calls_overlap() -> None:
    execute, callers = Execution(), Callers()
    for number in range(3):
        callers.start(ConcurrentInvoker(), execute, request({"n": number}), number)
    execute.wait_runs(3)
    execute.gate.set()
    callers.join()
    assert execute.most == 3


def test_serialized_calls_never_overlap_and_run_in_arrival_order() -> None:
    invoker, execute, callers = SerializedInvoker().bind(), Execution(), Callers()
    callers.start(invoker, execute, request({"n": 0}), 0)
    execute.wait_runs(1)
    for number in range(1, 6):
        callers.start(invoker, execute, request({"n": number}), number)
        wait_statistics(invoker, lambda stats, n=number: stats.waiting == n)
    execute.gate.set()
    outcomes = callers.join()

    assert execute.most == 1
    assert execute.order == [0, 1, 2, 3, 4, 5]
    assert all(isinstance(outcome, ActionResponse) for outcome in outcomes.values())
    assert invoker.statistics() == InvokerStatistics(running=0, waiting=0, cached=0)


def test_an_interrupted_waiter_leaves_the_line_and_the_others_keep_their_turn() -> None:
    invoker, execute, callers = SerializedInvoker().bind(), Execution(), Callers()
    callers.start(invoker, execute, request({"n": 0}), 0)
    execute.wait_runs(1)
    interrupted = callers.start(invoker, execute, request({"n": 1}), 1)
    wait_statistics(invoker, lambda stats: stats.waiting == 1)
    callers.start(invoker, execute, request({"n": 2}), 2)
    wait_statistics(invoker, lambda stats: stats.waiting == 2)

    assert interrupted.ident is not None
    assert _interrupt(interrupted.ident)
    wait_statistics(invoker, lambda stats: stats.waiting == 1)
    execute.gate.set()
    outcomes = callers.join()

    assert type(outcomes[1]).__name__ == "HarakiriInterrupt"
    assert execute.order == [0, 2]
    assert invoker.statistics().running == 0


def test_each_server_binds_its_own_serialized_invoker() -> None:
    first = ConcurrencyServer({"transport": None})
    second = ConcurrencyServer({"transport": None})
    assert isinstance(first._calls.invoker("serialized"), SerializedInvoker)
    assert first._calls.invoker("serialized") is not second._calls.invoker("serialized")


def test_actions_sharing_an_invoker_share_it_within_a_server() -> None:
    shared = SerializedInvoker()

    class First(Echo):
        invoker = shared

    class Second(Echo):
        invoker = shared

    class Sharing(ConcurrencyServer):
        action_class_map: Any = {"first": First, "second": Second}

    server = Sharing({"transport": None})
    assert server._calls.invoker("first") is server._calls.invoker("second")
    assert server._calls.invoker("first") is not shared


# --- deduplicating --------------------------------------------------------------------------


def start_identical_calls(
    invoker: DeduplicatingInvoker, execute: Execution, count: int, body: dict[str, Any]
) -> Callers:
    callers = Callers()
    for number in range(count):
        callers.start(invoker, execute, request(dict(body)), number)
    execute.wait_runs(1)
    wait_statistics(invoker, lambda stats: stats.waiting == count - 1)
    return callers


def test_twenty_identical_concurrent_calls_run_once_and_all_get_the_response() -> None:
    invoker, execute = DeduplicatingInvoker().bind(), Execution()
    callers = start_identical_calls(invoker, execute, 20, {"x": [1, 2]})
    execute.gate.set()
    outcomes = callers.join()

    assert execute.runs == 1
    bodies = [outcome.body for outcome in outcomes.values()]
    assert bodies == [{"echo": {"x": [1, 2]}}] * 20
    bodies[0]["echo"]["x"].append(3)  # each caller has a copy of its own
    assert bodies[1] == {"echo": {"x": [1, 2]}}


def test_an_action_error_reaches_every_caller_of_the_run_and_is_not_cached() -> None:
    def fail(req: EnrichedActionRequest) -> ActionResponse:
        raise ActionError([Error(code="NOPE", message="no", field="x")])

    invoker = DeduplicatingInvoker(cache_ttl_in_seconds=60).bind()
    execute = Execution(fail)
    callers = start_identical_calls(invoker, execute, 5, {})
    execute.gate.set()
    outcomes = callers.join()

    assert all(isinstance(outcome, ActionError) for outcome in outcomes.values())
    assert {outcome.errors[0].code for outcome in outcomes.values()} == {"NOPE"}
    with pytest.raises(ActionError):
        invoker.invoke(request(), execute)
    assert execute.runs == 2


def test_an_unexpected_exception_reaches_every_caller_as_its_own_copy() -> None:
    def crash(req: EnrichedActionRequest) -> ActionResponse:
        raise KeyError("missing")

    invoker, execute = DeduplicatingInvoker().bind(), Execution(crash)
    callers = start_identical_calls(invoker, execute, 4, {})
    execute.gate.set()
    outcomes = callers.join()

    errors = list(outcomes.values())
    assert all(isinstance(error, KeyError) and error.args == ("missing",) for error in errors)
    assert len({id(error) for error in errors}) == 4


def test_a_response_is_cached_for_its_time_to_live_but_errors_only_if_configured() -> None:
    invoker = DeduplicatingInvoker(cache_ttl_in_seconds=60).bind()
    execute = Execution()
    execute.gate.set()
    first = invoker.invoke(request({"n": 1}), execute)
    again = invoker.invoke(request({"n": 1}), execute)
    other = invoker.invoke(request({"n": 2}), execute)

    assert first.body == again.body
    assert again is not first
    assert execute.runs == 2  # n=1 once, n=2 once
    assert other.body == {"echo": {"n": 2}}
    assert invoker.statistics().cached == 2

    failing = Execution(lambda req: ActionResponse("act", errors=[Error("BAD", "bad")]))
    failing.gate.set()
    invoker.invoke(request({"n": 3}), failing)
    invoker.invoke(request({"n": 3}), failing)
    assert failing.runs == 2

    caching_errors = DeduplicatingInvoker(cache_ttl_in_seconds=60, cache_errors=True).bind()
    caching_errors.invoke(request({"n": 3}), failing)
    caching_errors.invoke(request({"n": 3}), failing)
    assert failing.runs == 3


def test_without_a_time_to_live_nothing_is_cached() -> None:
    invoker, execute = DeduplicatingInvoker().bind(), Execution()
    execute.gate.set()
    invoker.invoke(request({"n": 1}), execute)
    invoker.invoke(request({"n": 1}), execute)
    assert execute.runs == 2


def test_the_cache_keeps_the_most_recent_keys() -> None:
    invoker = DeduplicatingInvoker(cache_ttl_in_seconds=60, cache_max_entries=2).bind()
    execute = Execution()
    execute.gate.set()
    for number in (1, 2, 3, 3, 2, 1):
        invoker.invoke(request({"n": number}), execute)
    assert execute.order == [1, 2, 3, 1]


def test_the_key_hook_decides_which_calls_are_the_same() -> None:
    invoker = DeduplicatingInvoker(key=lambda req: req.body["id"]).bind()
    execute = Execution()
    callers = Callers()
    callers.start(invoker, execute, request({"id": 7, "noise": 1}), 0)
    execute.wait_runs(1)
    callers.start(invoker, execute, request({"id": 7, "noise": 2}), 1)
    wait_statistics(invoker, lambda stats: stats.waiting == 1)
    execute.gate.set()
    outcomes = callers.join()

    assert execute.runs == 1
    assert outcomes[1].body == {"echo": {"id": 7, "noise": 1}}


def test_switches_are_part_of_the_default_key() -> None:
    invoker = DeduplicatingInvoker(cache_ttl_in_seconds=60).bind()
    execute = Execution()
    execute.gate.set()
    invoker.invoke(request({"n": 1}, switches=[5]), execute)
    invoker.invoke(request({"n": 1}, switches=[6]), execute)
    invoker.invoke(request({"n": 1}, switches=[5]), execute)
    assert execute.runs == 2


def test_a_body_without_a_canonical_form_runs_on_its_own() -> None:
    invoker, execute = DeduplicatingInvoker(cache_ttl_in_seconds=60).bind(), Execution()
    execute.gate.set()
    invoker.invoke(request({"thing": object()}), execute)
    invoker.invoke(request({"thing": object()}), execute)
    assert execute.runs == 2


# --- in a server, over Redis ------------------------------------------------------------------


class CountingMiddleware(ServerMiddleware):
    calls = 0
    lock = threading.Lock()

    def action(self, process_action: ProcessAction) -> ProcessAction:
        def count(req: EnrichedActionRequest) -> ActionResponse:
            with CountingMiddleware.lock:
                CountingMiddleware.calls += 1
            return process_action(req)

        return count


def test_a_serialized_action_never_overlaps_itself_on_four_workers(
    redis_url: str, probe: Probe
) -> None:
    with running(redis_url, workers=4) as service:
        responses = service.send([call("serialized", {"tag": tag}) for tag in range(8)])
        for done in range(8):
            probe.wait_entered(done + 1)
            assert probe.running == 1
            probe.allow(1)
        results = responses()

    assert probe.most == 1
    assert sorted(response.actions[0].body["tag"] for response in results) == list(range(8))


def test_twenty_identical_calls_over_redis_run_once_and_middleware_sees_each_caller(
    redis_url: str, probe: Probe
) -> None:
    CountingMiddleware.calls = 0
    middleware = [{"path": "tests.server.test_invokers:CountingMiddleware"}]
    with running(redis_url, workers=20, middleware=middleware) as service:
        responses = service.send([call("deduplicated", {"value": 42}) for _ in range(20)])
        probe.wait_entered(1)
        invoker = service.server._calls.invoker("deduplicated")
        wait_statistics(invoker, lambda stats: stats.waiting == 19)
        probe.allow(1)
        results = responses()

    assert [response.actions[0].body for response in results] == [{"value": 42, "runs": 1}] * 20
    assert Deduplicated.runs == 1
    assert CountingMiddleware.calls == 20


def test_an_invoker_in_the_settings_replaces_the_class_attribute() -> None:
    server = ConcurrencyServer(
        {
            "transport": None,
            "invokers": {
                "echo": {"path": "servicewire:SerializedInvoker"},
                "serialized": {"path": "servicewire:ConcurrentInvoker"},
                "deduplicated": {
                    "path": "servicewire:DeduplicatingInvoker",
                    "kwargs": {"cache_ttl_in_seconds": 5},
                },
            },
        }
    )
    assert isinstance(server._calls.invoker("echo"), SerializedInvoker)
    assert server._calls.invoker("serialized") is None  # runs directly
    deduplicating = server._calls.invoker("deduplicated")
    assert isinstance(deduplicating, DeduplicatingInvoker)
    assert deduplicating.cache_ttl == 5


def test_bad_invoker_settings_fail_at_start_up() -> None:
    from servicewire import InvalidSettings

    with pytest.raises(InvalidSettings, match="cache_ttl_in_seconds"):
        ConcurrencyServer(
            {
                "transport": None,
                "invokers": {
                    "echo": {
                        "path": "servicewire:DeduplicatingInvoker",
                        "kwargs": {"cache_ttl_in_seconds": -1},
                    }
                },
            }
        )


def test_an_invoker_attribute_that_is_no_invoker_fails_at_start_up() -> None:
    class Odd(Echo):
        invoker = "serialized please"

    class OddServer(ConcurrencyServer):
        action_class_map: Any = {"odd": Odd}

    with pytest.raises(ImproperlyConfigured, match='invoker of action "odd" must be an Invoker'):
        OddServer({"transport": None})
