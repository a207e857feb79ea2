"""The asyncio client over Redis and SQLite (and PostgreSQL for one scenario), against its
services run as real server processes (``servicewire serve``; math in two worker
processes): every call style, parallel calls across processes, timeouts, one failure among
many with every combination of flags, expansions, and fifty calls at once on one client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from servicewire import AsyncClient
from tests.client.deployments import (
    SHORT_TIMEOUT,
    SQUARE_OF_7,
    Deployment,
    check_a_slow_call_times_out_in_time,
    check_what_came_in_time_is_returned_beside_a_timeout,
    first_body,
    identify_all,
    one_job,
)
from tests.client.test_client import FAILURES, FLAG_SETS, check_outcome, flag_ids, mixed_jobs
from tests.client.test_expander import TWO_LEVELS, check_expanded_two_levels_deep
from tests.support.processes import DEADLINE

T = TypeVar("T")


@pytest.fixture(params=["redis", "sqlite"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    deployment: Deployment = request.getfixturevalue(f"{request.param}_deployment")
    return deployment


def with_client(deployment: Deployment, test: Callable[[AsyncClient], Awaitable[T]]) -> T:
    """Run ``test`` with a new asyncio client of ``deployment``, closed afterwards."""

    async def main() -> T:
        async with deployment.async_client() as client:
            return await test(client)

    return asyncio.run(main())


async def sent_then_collected(client: AsyncClient) -> Any:
    request_id = await client.send_request("math", [SQUARE_OF_7])
    [(collected_id, response)] = [reply async for reply in client.get_all_responses("math")]
    assert collected_id == request_id
    return response


CALL_STYLES: dict[str, Callable[[AsyncClient], Awaitable[Any]]] = {
    "call_action": lambda c: c.call_action("math", "square", {"number": 7}),
    "call_actions": lambda c: c.call_actions("math", [SQUARE_OF_7]),
    "call_actions_parallel": lambda c: c.call_actions_parallel("math", [SQUARE_OF_7]),
    "call_jobs_parallel": lambda c: c.call_jobs_parallel(one_job(SQUARE_OF_7)),
    "send_request": sent_then_collected,
}


@pytest.mark.parametrize("style", sorted(CALL_STYLES))
def test_every_call_style_gets_its_reply(deployment: Deployment, style: str) -> None:
    assert first_body(with_client(deployment, CALL_STYLES[style])) == {"square": 49}


def test_a_hundred_parallel_actions_across_two_server_processes_return_in_order(
    deployment: Deployment,
) -> None:
    responses = with_client(
        deployment, lambda c: c.call_actions_parallel("math", identify_all(100), timeout=DEADLINE)
    )
    assert [response.body["n"] for response in responses] == list(range(100))
    assert {response.body["pid"] for response in responses} == deployment.math_pids


def test_a_slow_server_and_a_short_timeout_give_message_receive_timeout_in_time(
    deployment: Deployment, tmp_path: Path
) -> None:
    check_a_slow_call_times_out_in_time(
        tmp_path,
        lambda body: with_client(
            deployment, lambda c: c.call_action("math", "hold", body, timeout=SHORT_TIMEOUT)
        ),
    )


def test_a_parallel_call_gets_what_came_in_time_and_timeouts_in_place(
    deployment: Deployment, tmp_path: Path
) -> None:
    check_what_came_in_time_is_returned_beside_a_timeout(
        tmp_path,
        lambda actions: with_client(
            deployment,
            lambda c: c.call_actions_parallel(
                "math", actions, timeout=SHORT_TIMEOUT, catch_transport_errors=True
            ),
        ),
    )


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("flags", FLAG_SETS, ids=flag_ids)
def test_one_failure_among_many_with_each_combination_of_flags(
    deployment: Deployment, failure: str, flags: dict[str, bool]
) -> None:
    deployment.fill_broken_queue()
    check_outcome(
        failure,
        flags,
        lambda: with_client(
            deployment, lambda c: c.call_jobs_parallel(mixed_jobs(failure), **flags)
        ),
    )


def test_expansions_go_two_levels_deep(deployment: Deployment) -> None:
    response = with_client(
        deployment,
        lambda c: c.call_action("books", "list_books", expansions=TWO_LEVELS, timeout=DEADLINE),
    )
    check_expanded_two_levels_deep(response.body)


async def fifty_at_once(client: AsyncClient) -> list[int]:
    responses = await asyncio.gather(
        *(client.call_action("math", "square", {"number": n}, timeout=DEADLINE) for n in range(50))
    )
    assert client._get_handler("math").statistics().requests_pending == 0
    return [response.body["square"] for response in responses]


def test_fifty_concurrent_calls_on_one_client_each_get_their_own_reply(
    deployment: Deployment,
) -> None:
    assert with_client(deployment, fifty_at_once) == [n * n for n in range(50)]


def test_over_postgresql_concurrent_and_parallel_calls_get_their_own_replies(
    postgres_deployment: Deployment,
) -> None:
    async def test(client: AsyncClient) -> None:
        assert await fifty_at_once(client) == [n * n for n in range(50)]
        responses = await client.call_actions_parallel("math", identify_all(100), timeout=DEADLINE)
        assert [response.body["n"] for response in responses] == list(range(100))
        assert {response.body["pid"] for response in responses} == postgres_deployment.math_pids

    with_client(postgres_deployment, test)
