"""Stubs reach every call style of both clients, apply expansions, and let the service's
other actions through, even within one job."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from servicewire import (
    Action,
    AsyncClient,
    CallActionError,
    Client,
    EnrichedActionRequest,
    ImproperlyConfigured,
    JobResponse,
    Server,
)
from servicewire.testing import ActionStub, local_client, stub_action
from servicewire.testing.interception import AsyncStubbingClientTransport, StubbingClientTransport
from servicewire.transport.local import AsyncLocalClientTransport, LocalClientTransport
from tests.testing.services import (
    RAN,
    TeamServer,
    config,
    make_async_client,
    make_client,
    user,
)


@pytest.fixture
def stub_count() -> Iterator[ActionStub]:
    with stub_action("users", "count_users", body={"count": 3}) as stub:
        yield stub


def bodies(response: JobResponse) -> list[dict[str, Any]]:
    return [action.body for action in response.actions]


REAL_ECHO = {"real": True, "body": {"n": 1}}


# --- every call style of the sync client --------------------------------------------------


def test_call_action_is_answered_by_the_stub(client: Client, stub_count: ActionStub) -> None:
    assert client.call_action("users", "count_users", {"id": 1}).body == {"count": 3}
    assert stub_count.call_body == {"id": 1}


def test_call_actions_answers_each_stubbed_action(client: Client, stub_count: ActionStub) -> None:
    response = client.call_actions(
        "users", [{"action": "count_users", "body": {"n": 1}}, {"action": "count_users"}]
    )
    assert bodies(response) == [{"count": 3}, {"count": 3}]
    assert stub_count.call_bodies == ({"n": 1}, {})


def test_call_actions_parallel_answers_each_stubbed_action(
    client: Client, stub_count: ActionStub
) -> None:
    responses = client.call_actions_parallel(
        "users", [{"action": "count_users"}, {"action": "list_users", "body": {"n": 1}}]
    )
    assert [response.body for response in responses] == [{"count": 3}, REAL_ECHO]


def test_call_jobs_parallel_stubs_across_services(client: Client, stub_count: ActionStub) -> None:
    with stub_action("teams", "get_teams", body={"teams": {}}):
        responses = client.call_jobs_parallel(
            [
                {"service_name": "teams", "actions": [{"action": "get_teams"}]},
                {"service_name": "users", "actions": [{"action": "count_users"}]},
                {"service_name": "teams", "actions": [{"action": "echo", "body": {"n": 1}}]},
            ]
        )
    assert [bodies(response) for response in responses] == [
        [{"teams": {}}],
        [{"count": 3}],
        [REAL_ECHO],
    ]


def test_futures_are_answered_by_the_stub(client: Client, stub_count: ActionStub) -> None:
    action = client.call_action_future("users", "count_users")
    job = client.call_actions_future("users", [{"action": "count_users"}])
    parallel = client.call_actions_parallel_future("users", [{"action": "count_users"}])
    jobs = client.call_jobs_parallel_future(
        [{"service_name": "users", "actions": [{"action": "count_users"}]}]
    )
    assert action.result().body == {"count": 3}
    assert bodies(job.result()) == [{"count": 3}]
    assert [response.body for response in parallel.result()] == [{"count": 3}]
    assert [bodies(response) for response in jobs.result()] == [[{"count": 3}]]
    assert stub_count.call_count == 4


def test_a_future_made_while_stubbed_keeps_the_stubs_answer(client: Client) -> None:
    with stub_action("users", "count_users", body={"count": 3}):
        future = client.call_action_future("users", "count_users")
        mixed = client.call_actions_future(
            "users", [{"action": "list_users", "body": {"n": 1}}, {"action": "count_users"}]
        )
    assert future.result().body == {"count": 3}
    assert bodies(mixed.result()) == [REAL_ECHO, {"count": 3}]


def test_send_request_and_get_all_responses(client: Client, stub_count: ActionStub) -> None:
    stubbed = client.send_request("users", [{"action": "count_users"}])
    real = client.send_request("users", [{"action": "list_users", "body": {"n": 1}}])
    responses = dict(client.get_all_responses("users"))
    assert bodies(responses[stubbed]) == [{"count": 3}]
    assert bodies(responses[real]) == [REAL_ECHO]


def test_a_job_asking_for_no_response_still_calls_the_stub(
    client: Client, stub_count: ActionStub
) -> None:
    client.send_request(
        "users",
        [{"action": "count_users", "body": {"n": 1}}, {"action": "list_users", "body": {"n": 2}}],
        suppress_response=True,
    )
    assert stub_count.call_body == {"n": 1}
    assert RAN == [("list_users", {"n": 2})]
    assert list(client.get_all_responses("users")) == []


def test_calls_from_many_threads_each_get_their_own_answers(
    client: Client, stub_count: ActionStub
) -> None:
    def call(n: int) -> list[dict[str, Any]]:
        return bodies(
            client.call_actions(
                "users", [{"action": "count_users"}, {"action": "list_users", "body": {"n": n}}]
            )
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(40)))
    assert results == [[{"count": 3}, {"real": True, "body": {"n": n}}] for n in range(40)]
    assert stub_count.call_count == 40


# --- expansions ---------------------------------------------------------------------------


def test_expansions_apply_to_a_stubbed_response(client: Client) -> None:
    # PySOA's stubs answered without expanding.
    with stub_action("users", "list_users", body={"users": [user(1, team_id=7)]}):
        body = client.call_action("users", "list_users", expansions={"user": ["team"]}).body
    assert body["users"][0]["team"] == {"id": 7, "name": "Team 7"}
    assert RAN == [("get_teams", {"ids": [7]})]


def test_expansion_calls_are_stubbed_too(client: Client) -> None:
    with (
        stub_action("users", "list_users", body={"users": [user(1, team_id=7)]}),
        stub_action("teams", "get_teams", body={"teams": {7: {"id": 7, "name": "Stub"}}}) as teams,
    ):
        body = client.call_action("users", "list_users", expansions={"user": ["team"]}).body
    assert body["users"][0]["team"] == {"id": 7, "name": "Stub"}
    assert teams.call_body == {"ids": [7]}
    assert RAN == []


def test_an_expanded_stub_answer_does_not_change_the_stubs_body(client: Client) -> None:
    with stub_action("users", "list_users", body={"users": [user(1)]}) as stub:
        client.call_action("users", "list_users", expansions={"user": ["team"]})
        assert "team" not in client.call_action("users", "list_users").body["users"][0]
    assert "team" not in stub.return_value["users"][0]


# --- stubbed and real actions in one job --------------------------------------------------


def test_unstubbed_actions_of_a_job_reach_the_service_in_order(
    client: Client, stub_count: ActionStub
) -> None:
    response = client.call_actions(
        "users",
        [
            {"action": "list_users", "body": {"n": 1}},
            {"action": "count_users", "body": {"n": 2}},
            {"action": "list_users", "body": {"n": 3}},
        ],
    )
    assert bodies(response) == [REAL_ECHO, {"count": 3}, {"real": True, "body": {"n": 3}}]
    assert RAN == [("list_users", {"n": 1}), ("list_users", {"n": 3})]
    assert response.context["correlation_id"]


def test_a_failing_stub_stops_the_job_before_the_real_actions_after_it(client: Client) -> None:
    errors = [{"code": "NOPE", "message": "no"}]
    with stub_action("users", "count_users", errors=errors):
        response = client.call_actions(
            "users",
            [{"action": "count_users"}, {"action": "list_users"}],
            raise_action_errors=False,
        )
    assert [action.action for action in response.actions] == ["count_users"]
    assert RAN == []


def test_a_failing_real_action_stops_the_job_before_the_stubs_after_it(
    client: Client, stub_count: ActionStub
) -> None:
    response = client.call_actions(
        "users", [{"action": "refuse"}, {"action": "count_users"}], raise_action_errors=False
    )
    assert [action.action for action in response.actions] == ["refuse"]
    assert not stub_count.called


def test_with_continue_on_error_every_action_runs(client: Client) -> None:
    with stub_action("users", "count_users", errors=[{"code": "NOPE", "message": "no"}]) as stub:
        response = client.call_actions(
            "users",
            [{"action": "refuse"}, {"action": "count_users"}, {"action": "list_users"}],
            raise_action_errors=False,
            continue_on_error=True,
        )
    codes = [[error.code for error in action.errors] for action in response.actions]
    assert codes == [["REFUSED"], ["NOPE"], []]
    assert stub.called
    assert [name for name, _ in RAN] == ["refuse", "list_users"]


def test_an_exception_from_a_stub_after_a_real_action_is_raised_by_the_call(
    client: Client,
) -> None:
    with stub_action("users", "count_users", side_effect=ValueError("late")):
        with pytest.raises(ValueError, match="late"):
            client.call_actions("users", [{"action": "list_users"}, {"action": "count_users"}])
        # The transport is not left waiting for the job.
        assert client.call_action("users", "list_users", {"n": 1}).body == REAL_ECHO


# --- which clients are reached ------------------------------------------------------------


def test_clients_made_before_the_stub_are_stubbed_and_given_their_transport_back(
    client: Client,
) -> None:
    client.call_action("users", "list_users")
    handler = client.handlers["users"]
    original = handler.transport
    with stub_action("users", "count_users", body={"count": 3}):
        assert client.call_action("users", "count_users").body == {"count": 3}
        assert isinstance(handler.transport, StubbingClientTransport)
        assert handler.transport.server is original.server  # type: ignore[attr-defined]
    assert client.call_action("users", "list_users", {"n": 1}).body == REAL_ECHO
    assert handler.transport is original
    assert isinstance(original, LocalClientTransport)


def test_clients_made_while_stubbed_get_their_own_transport_back_after() -> None:
    client = make_client()
    try:
        with stub_action("users", "count_users", body={"count": 3}):
            assert client.call_action("users", "count_users").body == {"count": 3}
            assert isinstance(client.handlers["users"].transport, StubbingClientTransport)
        assert client.call_action("users", "count_users").body == {"real": True, "body": {}}
        assert isinstance(client.handlers["users"].transport, LocalClientTransport)
    finally:
        client.close()


def test_a_services_own_calls_to_other_services_are_stubbed() -> None:
    class CallTeams(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return request.client.call_action("teams", "echo", {"from": "gateway"}).body

    class Gateway(Server):
        service_name = "gateway"
        action_class_map: ClassVar[dict[str, Any]] = {"call_teams": CallTeams}

    settings = {"client_routing": {"teams": config()["teams"]}}
    client = local_client(Gateway, settings)
    try:
        with stub_action("teams", "echo", body={"stubbed": True}) as stub:
            assert client.call_action("gateway", "call_teams").body == {"stubbed": True}
        assert stub.call_body == {"from": "gateway"}
        assert client.call_action("gateway", "call_teams").body["real"] is True
    finally:
        client.close()


def test_a_service_the_client_has_no_settings_for_can_be_stubbed() -> None:
    client = Client({})
    with stub_action("billing", "charge", body={"charged": True}):
        assert client.call_action("billing", "charge").body == {"charged": True}
        with pytest.raises(ImproperlyConfigured) as refused:
            client.call_action("billing", "refund")
    assert str(refused.value) == (
        "Service 'billing' is not configured on this client: only its stubbed actions "
        "(charge) can be called, not refund"
    )
    with pytest.raises(ImproperlyConfigured, match="Unrecognized service name 'billing'"):
        Client({}).call_action("billing", "charge")


# --- the asyncio client -------------------------------------------------------------------


def test_the_asyncio_client_is_stubbed_in_every_call_style(stub_count: ActionStub) -> None:
    async def calls() -> list[Any]:
        async with make_async_client() as client:
            return [
                (await client.call_action("users", "count_users")).body,
                bodies(
                    await client.call_actions(
                        "users",
                        [{"action": "list_users", "body": {"n": 1}}, {"action": "count_users"}],
                    )
                ),
                [
                    response.body
                    for response in await client.call_actions_parallel(
                        "users", [{"action": "count_users"}, {"action": "list_users", "body": {}}]
                    )
                ],
                [
                    bodies(response)
                    for response in await client.call_jobs_parallel(
                        [
                            {"service_name": "teams", "actions": [{"action": "echo"}]},
                            {"service_name": "users", "actions": [{"action": "count_users"}]},
                        ]
                    )
                ],
            ]

    assert asyncio.run(calls()) == [
        {"count": 3},
        [REAL_ECHO, {"count": 3}],
        [{"count": 3}, {"real": True, "body": {}}],
        [[{"real": True, "body": {}}], [{"count": 3}]],
    ]
    assert stub_count.call_count == 4


def test_the_asyncio_client_expands_stubbed_responses() -> None:
    async def call() -> dict[str, Any]:
        async with make_async_client() as client:
            response = await client.call_action(
                "users", "list_users", expansions={"user": ["team"]}
            )
            return response.body

    with stub_action("users", "list_users", body={"users": [user(1, team_id=7)]}):
        body = asyncio.run(call())
    assert body["users"][0]["team"] == {"id": 7, "name": "Team 7"}


def test_asyncio_send_request_and_get_all_responses(stub_count: ActionStub) -> None:
    async def call() -> dict[int, JobResponse]:
        async with make_async_client() as client:
            stubbed = await client.send_request("users", [{"action": "count_users"}])
            real = await client.send_request("users", [{"action": "list_users"}])
            responses = {rid: r async for rid, r in client.get_all_responses("users")}
            return {0: responses[stubbed], 1: responses[real]}

    responses = asyncio.run(call())
    assert bodies(responses[0]) == [{"count": 3}]
    assert bodies(responses[1]) == [{"real": True, "body": {}}]


def test_a_stubbed_asyncio_call_does_not_wait_behind_a_slow_real_one() -> None:
    started, release = threading.Event(), threading.Event()

    class Slow(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            started.set()
            # Released only once the stubbed call is answered: if that call waited for this
            # one, the wait would time out and answer False.
            return {"slow": release.wait(10)}

    class SlowServer(TeamServer):
        action_class_map: ClassVar[dict[str, Any]] = {"slow": Slow, "fast": Slow}

    async def calls() -> Any:
        settings = config()
        settings["teams"]["transport"]["kwargs"]["server_class"] = SlowServer
        async with AsyncClient(settings) as client:
            slow = asyncio.create_task(client.call_action("teams", "slow"))
            await asyncio.to_thread(started.wait, 10)
            fast = await client.call_action("teams", "fast")
            release.set()
            return fast.body, (await slow).body

    with stub_action("teams", "fast", body={"fast": True}):
        assert asyncio.run(calls()) == ({"fast": True}, {"slow": True})


def test_the_asyncio_client_gets_its_transport_back() -> None:
    async def check() -> None:
        async with make_async_client() as client:
            await client.call_action("users", "list_users")
            handler = client.handlers["users"]
            original = handler.transport
            with stub_action("users", "count_users"):
                await client.call_action("users", "count_users")
                assert isinstance(handler.transport, AsyncStubbingClientTransport)
            await client.call_action("users", "list_users")
            assert handler.transport is original
            assert isinstance(original, AsyncLocalClientTransport)

    asyncio.run(check())


def test_the_asyncio_client_can_call_a_stubbed_service_it_has_no_settings_for() -> None:
    async def call() -> dict[str, Any]:
        async with AsyncClient({}) as client:
            with pytest.raises(ImproperlyConfigured, match="not configured on this client"):
                await client.call_action("billing", "refund")
            return (await client.call_action("billing", "charge")).body

    with stub_action("billing", "charge", body={"charged": True}):
        assert asyncio.run(call()) == {"charged": True}


def test_asyncio_stub_errors_reach_the_caller() -> None:
    async def call() -> None:
        async with make_async_client() as client:
            await client.call_action("users", "count_users")

    with stub_action("users", "count_users", errors=[{"code": "NOPE", "message": "no"}]):
        with pytest.raises(CallActionError, match="NOPE"):
            asyncio.run(call())
    with stub_action("users", "count_users", side_effect=ValueError("broken")):
        with pytest.raises(ValueError, match="broken"):
            asyncio.run(call())
