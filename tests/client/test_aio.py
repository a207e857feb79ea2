"""The asyncio client: every call style over the local transport, errors, timeouts,
concurrency, middleware and context."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import pytest

from servicewire import (
    Action,
    ActionRequest,
    ActionResponse,
    AsyncClient,
    CallActionError,
    CallJobError,
    ClientError,
    ConnectionError,
    EnrichedActionRequest,
    Error,
    ImproperlyConfigured,
    InvalidExpansionKey,
    JobResponse,
    MessageReceiveError,
    MessageReceiveTimeout,
    Server,
)
from servicewire.client.aio_handler import AsyncServiceHandler
from servicewire.server.received import ReceivedRequest
from servicewire.server.serving import Serving
from servicewire.transport.base import ReceivedMessage
from tests.client.test_client import (
    FAILURES,
    FLAG_SETS,
    Counting,
    Math,
    Square,
    Words,
    assert_one_job_went_through_the_middleware_in_order,
    broken_settings,
    caller_of,
    check_outcome,
    flag_ids,
    local_settings,
    mixed_jobs,
)
from tests.client.test_expander import (
    EXPANSIONS,
    TWO_LEVELS,
    Books,
    People,
    check_expanded_two_levels_deep,
)
from tests.support.transports import AsyncTroubledLocalTransport

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


def with_client(test: Callable[[AsyncClient], Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run ``test`` with a fresh client of the math and words services, then close it."""

    async def main() -> T:
        async with AsyncClient(
            {"math": local_settings(Math), "words": local_settings(Words)}, *args, **kwargs
        ) as client:
            return await test(client)

    return asyncio.run(main())


def handler_of(client: AsyncClient, service_name: str) -> AsyncServiceHandler:
    return client._get_handler(service_name)


# --- one action, one job ----------------------------------------------------------------


def test_call_action_returns_the_action_response() -> None:
    async def test(client: AsyncClient) -> ActionResponse:
        return await client.call_action("math", "square", {"number": 7})

    assert with_client(test) == ActionResponse("square", body={"square": 49})


def test_call_action_raises_call_action_error() -> None:
    async def test(client: AsyncClient) -> None:
        with pytest.raises(CallActionError) as caught:
            await client.call_action("math", "fail", {"why": "testing"})
        assert caught.value.actions == [
            ActionResponse("fail", errors=[Error("FAILED", "testing", is_caller_error=True)])
        ]
        response = await client.call_action("math", "fail", raise_action_errors=False)
        assert response.errors[0].code == "FAILED"

    with_client(test)


def test_call_action_raises_or_returns_job_errors() -> None:
    async def test(client: AsyncClient) -> None:
        with pytest.raises(CallJobError):
            await client.call_action("math", "echo", control_extra={"continue_on_error": 1})
        errors = await client.call_action(
            "math", "echo", control_extra={"continue_on_error": 1}, raise_job_errors=False
        )
        assert isinstance(errors, list)
        assert errors[0].field == "control.continue_on_error"

    with_client(test)


def test_call_actions_returns_the_job_response() -> None:
    async def test(client: AsyncClient) -> None:
        response = await client.call_actions(
            "math",
            [ActionRequest("square", {"number": 2}), {"action": "square", "body": {"number": 3}}],
        )
        assert isinstance(response, JobResponse)
        assert [a.body for a in response.actions] == [{"square": 4}, {"square": 9}]
        stopped = await client.call_actions(
            "math", [{"action": "fail"}, {"action": "echo"}], raise_action_errors=False
        )
        assert [a.action for a in stopped.actions] == ["fail"]
        continued = await client.call_actions(
            "math",
            [{"action": "fail"}, {"action": "echo"}],
            raise_action_errors=False,
            continue_on_error=True,
        )
        assert [a.action for a in continued.actions] == ["fail", "echo"]

    with_client(test)


def test_an_unknown_service_is_improperly_configured() -> None:
    async def test(client: AsyncClient) -> None:
        with pytest.raises(ImproperlyConfigured, match=r"'nowhere'.*math, words"):
            await client.call_action("nowhere", "echo")

    with_client(test)


# --- parallel -----------------------------------------------------------------------------


def test_call_actions_parallel_returns_a_list_in_request_order() -> None:
    async def test(client: AsyncClient) -> list[Any]:
        return await client.call_actions_parallel(
            "math", [{"action": "square", "body": {"number": n}} for n in range(20)]
        )

    responses = with_client(test)
    assert isinstance(responses, list)
    assert [r.body["square"] for r in responses] == [n * n for n in range(20)]


def test_call_actions_parallel_sends_one_job_per_action_with_one_correlation_id() -> None:
    async def test(client: AsyncClient) -> list[Any]:
        return await client.call_actions_parallel("math", [{"action": "echo"}] * 3)

    responses = with_client(test)
    assert len({r.body["context"]["correlation_id"] for r in responses}) == 1


def test_call_jobs_parallel_across_services() -> None:
    async def test(client: AsyncClient) -> list[Any]:
        return await client.call_jobs_parallel(
            [
                {"service_name": "math", "actions": [{"action": "square", "body": {"number": 2}}]},
                {"service_name": "words", "actions": [{"action": "echo", "body": {"w": "hi"}}]},
                {"service_name": "math", "actions": [{"action": "echo"}, {"action": "echo"}]},
            ]
        )

    responses = with_client(test)
    assert responses[0].actions[0].body == {"square": 4}
    assert responses[1].actions[0].body["body"] == {"w": "hi"}
    assert len(responses[2].actions) == 2


def test_fifty_concurrent_calls_on_one_client_all_get_their_own_reply() -> None:
    async def test(client: AsyncClient) -> None:
        responses = await asyncio.gather(
            *(client.call_action("math", "square", {"number": n}) for n in range(50))
        )
        assert [r.body["square"] for r in responses] == [n * n for n in range(50)]
        assert handler_of(client, "math").statistics().requests_pending == 0

    with_client(test)


def test_concurrent_parallel_calls_do_not_cross_replies() -> None:
    async def batch(client: AsyncClient, start: int) -> list[int]:
        responses = await client.call_actions_parallel(
            "math", [{"action": "square", "body": {"number": start + n}} for n in range(10)]
        )
        return [r.body["square"] for r in responses]

    async def test(client: AsyncClient) -> None:
        batches = await asyncio.gather(*(batch(client, 100 * b) for b in range(5)))
        assert batches == [[(100 * b + n) ** 2 for n in range(10)] for b in range(5)]

    with_client(test)


# --- one failure among many, with every combination of flags -------------------------------


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("flags", FLAG_SETS, ids=flag_ids)
def test_one_failure_among_many_with_each_combination_of_flags(
    failure: str, flags: dict[str, bool]
) -> None:
    async def main() -> list[Any]:
        async with AsyncClient(
            {"math": local_settings(Math), "broken": broken_settings()}
        ) as client:
            return await client.call_jobs_parallel(mixed_jobs(failure), **flags)

    check_outcome(failure, flags, lambda: asyncio.run(main()))


@pytest.mark.parametrize("raise_action_errors", [True, False])
def test_call_actions_parallel_with_one_failing_action(raise_action_errors: bool) -> None:
    actions = [{"action": "square", "body": {"number": n}} for n in range(9)]
    actions.insert(4, {"action": "fail"})

    async def test(client: AsyncClient) -> list[Any]:
        return await client.call_actions_parallel(
            "math", actions, raise_action_errors=raise_action_errors
        )

    if raise_action_errors:
        with pytest.raises(CallActionError) as caught:
            with_client(test)
        assert [a.action for a in caught.value.actions] == ["fail"]
        return
    results = with_client(test)
    assert [bool(r.errors) for r in results] == [i == 4 for i in range(10)]


class Explode(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class FragileServing(Serving):
    def handle_request(self, request: ReceivedRequest) -> None:
        if request.body["actions"][0]["action"] == "explode":
            raise RuntimeError("the server fell over")
        super().handle_request(request)


class Fragile(Server):
    """A server that crashes outside any action when asked to ``explode``."""

    service_name = "fragile"
    action_class_map: ClassVar[dict[str, Any]] = {"square": Square, "explode": Explode}

    serving_class = FragileServing


def test_a_server_failure_fails_only_its_own_call() -> None:
    async def main() -> list[Any]:
        async with AsyncClient({"fragile": local_settings(Fragile)}) as client:
            actions = [{"action": "square", "body": {"number": n}} for n in range(4)]
            actions.insert(2, {"action": "explode"})
            return await client.call_actions_parallel(
                "fragile", actions, catch_transport_errors=True
            )

    results = asyncio.run(main())
    assert isinstance(results[2], MessageReceiveError)
    assert isinstance(results[2].__cause__, RuntimeError)
    assert [r.body["square"] for i, r in enumerate(results) if i != 2] == [0, 1, 4, 9]


# --- timeouts and cancellation ------------------------------------------------------------


class Slow(Action):
    """Waits for the test to let it finish; tells the test when it has started."""

    started = threading.Event()
    release = threading.Event()

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        self.started.set()
        assert self.release.wait(30), "the test never released the slow action"
        return {"done": True}


class Sluggish(Server):
    service_name = "sluggish"
    action_class_map: ClassVar[dict[str, Any]] = {"slow": Slow, "square": Square}


@pytest.fixture
def slow_action() -> Any:
    Slow.started.clear()
    Slow.release.clear()
    yield Slow
    Slow.release.set()


def test_a_slow_action_and_a_short_timeout_give_message_receive_timeout(
    slow_action: type[Slow],
) -> None:
    async def main() -> None:
        async with AsyncClient({"sluggish": local_settings(Sluggish)}) as client:
            with pytest.raises(MessageReceiveTimeout, match="'sluggish'"):
                await client.call_action("sluggish", "slow", timeout=0.05)
            assert slow_action.started.is_set()
            statistics = handler_of(client, "sluggish").statistics()
            assert (statistics.requests_pending, statistics.requests_waited_for) == (0, 0)
            slow_action.release.set()

    asyncio.run(main())


def test_the_timeout_bounds_the_whole_wait_of_a_parallel_call(slow_action: type[Slow]) -> None:
    async def main() -> None:
        async with AsyncClient({"sluggish": local_settings(Sluggish)}) as client:
            with pytest.raises(MessageReceiveTimeout) as caught:
                await client.call_actions_parallel(
                    "sluggish",
                    [{"action": "square", "body": {"number": 2}}, {"action": "slow"}],
                    timeout=0.05,
                )
            assert handler_of(client, "sluggish").statistics().requests_pending == 0
            slow_action.release.set()
        return caught.value

    error = asyncio.run(main())
    assert "within the timeout" in str(error)


def test_a_timeout_is_returned_in_place_when_transport_errors_are_caught(
    slow_action: type[Slow],
) -> None:
    async def main() -> list[Any]:
        async with AsyncClient({"sluggish": local_settings(Sluggish)}) as client:
            results = await client.call_actions_parallel(
                "sluggish",
                [{"action": "square", "body": {"number": 3}}, {"action": "slow"}],
                timeout=0.05,
                catch_transport_errors=True,
            )
            slow_action.release.set()
            return results

    square, slow = asyncio.run(main())
    assert square.body == {"square": 9}
    assert isinstance(slow, MessageReceiveTimeout)


def test_a_cancelled_call_leaves_nothing_waiting(slow_action: type[Slow]) -> None:
    async def main() -> None:
        async with AsyncClient({"sluggish": local_settings(Sluggish)}) as client:
            call = asyncio.create_task(client.call_action("sluggish", "slow"))
            while not slow_action.started.is_set():
                await asyncio.sleep(0.001)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            statistics = handler_of(client, "sluggish").statistics()
            assert (statistics.requests_pending, statistics.requests_waited_for) == (0, 0)
            slow_action.release.set()

    asyncio.run(main())


# --- replies that go astray ---------------------------------------------------------------


def troubled_client() -> AsyncClient:
    return AsyncClient(
        {
            "math": {
                "transport": {
                    "path": "tests.support.transports:TroubledLocalTransport",
                    "kwargs": {"server_class": Math},
                }
            }
        }
    )


def troubled_transport(client: AsyncClient) -> AsyncTroubledLocalTransport:
    transport = handler_of(client, "math").transport
    assert isinstance(transport, AsyncTroubledLocalTransport)
    return transport


def test_a_stale_reply_is_dropped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> ActionResponse:
        async with troubled_client() as client:
            stale = JobResponse(actions=[ActionResponse("square", body={"square": -1})])
            troubled_transport(client).inject(ReceivedMessage(123456789, {}, stale.to_dict()))
            return await client.call_action("math", "square", {"number": 3})

    with caplog.at_level("WARNING", logger="servicewire.client"):
        response = asyncio.run(main())
    assert response.body == {"square": 9}
    assert "123456789" in caplog.text
    assert "nobody is waiting" in caplog.text


def test_a_transport_error_reaches_every_waiting_call() -> None:
    async def main() -> list[Any]:
        async with troubled_client() as client:
            troubled_transport(client).fail_receives.append(ConnectionError("reply queue gone"))
            return await asyncio.gather(
                *(client.call_action("math", "square", {"number": n}) for n in range(3)),
                return_exceptions=True,
            )

    results = asyncio.run(main())
    assert all(isinstance(result, ConnectionError) for result in results)


def test_a_malformed_reply_fails_only_its_own_call() -> None:
    async def main() -> None:
        async with troubled_client() as client:
            transport = troubled_transport(client)
            first = asyncio.create_task(client.call_action("math", "square", {"number": 1}))
            second = asyncio.create_task(client.call_action("math", "square", {"number": 2}))
            await asyncio.sleep(0)  # both sent
            (request_id, *_) = sorted(handler_of(client, "math")._pending)
            transport.inject(ReceivedMessage(request_id, {}, {"actions": [{"no_action": 1}]}))
            with pytest.raises(Exception, match="Malformed response"):
                await first
            assert (await second).body == {"square": 4}

    asyncio.run(main())


# --- send_request and get_all_responses -------------------------------------------------


def test_send_request_and_get_all_responses() -> None:
    async def test(client: AsyncClient) -> None:
        first = await client.send_request("math", [{"action": "square", "body": {"number": 2}}])
        second = await client.send_request("math", [{"action": "square", "body": {"number": 3}}])
        responses = {rid: r async for rid, r in client.get_all_responses("math")}
        assert set(responses) == {first, second}
        assert responses[second].actions[0].body == {"square": 9}
        assert [item async for item in client.get_all_responses("math")] == []

    with_client(test)


def test_suppress_response_expects_no_reply() -> None:
    async def test(client: AsyncClient) -> None:
        await client.send_request("math", [{"action": "echo"}], suppress_response=True)
        assert [item async for item in client.get_all_responses("math")] == []

    with_client(test)


def test_each_task_collects_only_its_own_replies() -> None:
    async def send_and_collect(client: AsyncClient, number: int) -> list[int]:
        await client.send_request("math", [{"action": "square", "body": {"number": number}}])
        return [
            response.actions[0].body["square"]
            async for _, response in client.get_all_responses("math")
        ]

    async def test(client: AsyncClient) -> list[list[int]]:
        return await asyncio.gather(*(send_and_collect(client, n) for n in range(5)))

    assert with_client(test) == [[n * n] for n in range(5)]


def test_replies_a_task_leaves_uncollected_are_forgotten_when_it_ends() -> None:
    async def test(client: AsyncClient) -> None:
        async def send_only() -> None:
            await client.send_request("math", [{"action": "echo"}])

        await asyncio.create_task(send_only())
        await asyncio.sleep(0)  # the task's done callbacks run after its awaiter resumes
        assert handler_of(client, "math").statistics().requests_pending == 0

    with_client(test)


# --- expansions ---------------------------------------------------------------------------


def expansion_client() -> AsyncClient:
    return AsyncClient(
        {"books": local_settings(Books), "people": local_settings(People)},
        expansion_config=EXPANSIONS,
    )


def test_expansions_go_two_levels_deep() -> None:
    async def main() -> dict[str, Any]:
        async with expansion_client() as client:
            response = await client.call_action("books", "list_books", expansions=TWO_LEVELS)
            return response.body

    check_expanded_two_levels_deep(asyncio.run(main()))


def test_expansions_apply_to_every_async_call_style() -> None:
    expansions = {"book": ["author"]}

    async def main() -> None:
        async with expansion_client() as client:
            job = await client.call_actions(
                "books", [{"action": "list_books"}], expansions=expansions
            )
            assert job.actions[0].body["featured"]["author"]["id"] == 2
            (parallel,) = await client.call_actions_parallel(
                "books", [{"action": "list_books"}], expansions=expansions
            )
            assert parallel.body["featured"]["author"]["id"] == 2
            (jobs,) = await client.call_jobs_parallel(
                [{"service_name": "books", "actions": [{"action": "list_books"}]}],
                expansions=expansions,
            )
            assert jobs.actions[0].body["featured"]["author"]["id"] == 2
            with pytest.raises(InvalidExpansionKey):
                await client.call_action("books", "list_books", expansions={"book": ["editor"]})

    asyncio.run(main())


# --- context ------------------------------------------------------------------------------


def test_context_correlation_id_switches_and_control() -> None:
    async def test(client: AsyncClient) -> None:
        first = (await client.call_action("math", "echo")).body
        second = (await client.call_action("math", "echo")).body
        assert first["context"]["correlation_id"] != second["context"]["correlation_id"]
        given = await client.call_action(
            "math",
            "echo",
            correlation_id="mine",
            switches=[3],
            context={"switches": [4], "locale": "de"},
            timeout=7,
            control_extra={"priority": "high"},
        )
        assert given.body["context"]["correlation_id"] == "mine"
        assert given.body["context"]["switches"] == [1, 3, 4]
        assert (given.body["context"]["tenant"], given.body["context"]["locale"]) == ("a", "de")
        assert given.body["control"] == {
            "continue_on_error": False,
            "suppress_response": False,
            "timeout": 7,
            "priority": "high",
        }

    with_client(test, context={"switches": [1], "tenant": "a", "locale": "fr"})


def test_the_caller_is_the_call_site_unless_given() -> None:
    async def test(client: AsyncClient) -> None:
        line = sys._getframe().f_lineno + 1
        context = (await client.call_action("math", "echo")).body["context"]
        assert context["caller"] == f"{__file__}:{line} in {test.__qualname__}"
        given = await client.call_action("math", "echo", context={"caller": "billing job"})
        assert given.body["context"]["caller"] == "billing job"

    with_client(test)


async def send_and_collect_echo(client: AsyncClient) -> list[JobResponse]:
    await client.send_request("math", [{"action": "echo"}])
    return [response async for _, response in client.get_all_responses("math")]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.call_action("math", "echo"),
        lambda c: c.call_actions("math", [{"action": "echo"}]),
        lambda c: c.call_actions_parallel("math", [{"action": "echo"}]),
        lambda c: c.call_jobs_parallel([{"service_name": "math", "actions": [{"action": "echo"}]}]),
        send_and_collect_echo,
    ],
)
def test_every_call_style_names_its_own_call_site(
    call: Callable[[AsyncClient], Awaitable[Any]],
) -> None:
    async def test(client: AsyncClient) -> str:
        return caller_of(await call(client))

    caller = with_client(test)
    assert caller.startswith(f"{__file__}:")
    # The coroutine runs, and so calls, where it is awaited.
    assert caller.endswith((".<locals>.test", " in send_and_collect_echo"))


# --- middleware ---------------------------------------------------------------------------


def middleware_settings() -> dict[str, Any]:
    Counting.log.clear()
    return local_settings(
        Math,
        middleware=[
            {"path": Counting, "kwargs": {"name": "outer"}},
            {"path": Counting, "kwargs": {"name": "inner"}},
        ],
    )


def test_client_middleware_sees_each_job_once_in_order() -> None:
    async def main() -> None:
        async with AsyncClient({"math": middleware_settings()}) as client:
            await client.call_action("math", "echo")

    asyncio.run(main())
    assert_one_job_went_through_the_middleware_in_order()


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.call_actions("math", [{"action": "echo"}]),
        lambda c: c.call_actions_parallel("math", [{"action": "echo"}] * 3),
        lambda c: c.call_jobs_parallel([{"service_name": "math", "actions": [{"action": "echo"}]}]),
    ],
)
def test_client_middleware_sees_every_call_style_once_per_job(
    call: Callable[[AsyncClient], Awaitable[Any]],
) -> None:
    async def main() -> None:
        async with AsyncClient({"math": middleware_settings()}) as client:
            await call(client)

    asyncio.run(main())
    sends = [line.split() for line in Counting.log if "send" in line]
    receives = [line.split() for line in Counting.log if "receive" in line]
    request_ids = {words[-1] for words in sends}
    assert len(sends) == len(receives) == 2 * len(request_ids)
    assert {words[-1] for words in receives} == request_ids


# --- configuration and lifecycle ----------------------------------------------------------


def test_a_transport_without_an_asyncio_twin_is_improperly_configured() -> None:
    settings = {"transport": {"path": "tests.client.test_handler:ScriptedTransport"}}
    with pytest.raises(ImproperlyConfigured, match=r"Service 'scripted'.*ScriptedTransport"):
        AsyncClient({"math": local_settings(Math), "scripted": settings})


def test_an_asyncio_twin_that_cannot_be_imported_is_improperly_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.transports import TroubledLocalTransport

    monkeypatch.setattr(TroubledLocalTransport, "async_transport_class", "nowhere:Nothing")
    with pytest.raises(ImproperlyConfigured, match=r"Service 'math'.*'nowhere:Nothing'"):
        troubled_client()


def test_a_closed_client_refuses_calls() -> None:
    async def main() -> None:
        client = AsyncClient({"math": local_settings(Math)})
        await client.call_action("math", "echo")
        await client.aclose()
        with pytest.raises(ClientError, match="closed"):
            await client.call_action("math", "echo")

    asyncio.run(main())


def test_closing_fails_the_calls_still_waiting(slow_action: type[Slow]) -> None:
    async def main() -> None:
        client = AsyncClient({"sluggish": local_settings(Sluggish)})
        call = asyncio.create_task(client.call_action("sluggish", "slow"))
        while not slow_action.started.is_set():
            await asyncio.sleep(0.001)
        closing = asyncio.create_task(client.aclose())
        with pytest.raises(MessageReceiveError, match="closed"):
            await call
        slow_action.release.set()
        await closing

    asyncio.run(main())


def test_a_client_belongs_to_one_event_loop() -> None:
    client = AsyncClient({"math": local_settings(Math)})
    run(client.call_action("math", "echo"))
    with pytest.raises(ClientError, match="another event loop"):
        run(client.call_action("math", "echo"))


def test_the_server_runs_outside_the_event_loop_thread() -> None:
    class WhichThread(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {"thread": threading.get_ident()}

    class Threads(Server):
        service_name = "threads"
        action_class_map: ClassVar[dict[str, Any]] = {"which": WhichThread}

    async def main() -> int:
        async with AsyncClient({"threads": local_settings(Threads)}) as client:
            return int((await client.call_action("threads", "which")).body["thread"])

    assert asyncio.run(main()) != threading.get_ident()


def test_error_aliases_match_the_sync_client() -> None:
    assert AsyncClient.CallActionError is CallActionError
    assert AsyncClient.JobError is CallJobError
