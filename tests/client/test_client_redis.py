"""The client over Redis, against its services run as real server processes (``servicewire
serve``; math in two worker processes): every call style, parallel calls across processes,
timeouts, one failure among many with every combination of flags, expansions, and a service
calling another through ``request.client``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servicewire import Client
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


@pytest.fixture
def client(redis_deployment: Deployment) -> Iterator[Client]:
    client = redis_deployment.client()
    yield client
    client.close()


def sent_then_collected(client: Client) -> Any:
    request_id = client.send_request("math", [SQUARE_OF_7])
    [(collected_id, response)] = client.get_all_responses("math")
    assert collected_id == request_id
    return response


CALL_STYLES: dict[str, Callable[[Client], Any]] = {
    "call_action": lambda c: c.call_action("math", "square", {"number": 7}),
    "call_action_future": lambda c: c.call_action_future("math", "square", {"number": 7}).result(),
    "call_actions": lambda c: c.call_actions("math", [SQUARE_OF_7]),
    "call_actions_future": lambda c: c.call_actions_future("math", [SQUARE_OF_7]).result(),
    "call_actions_parallel": lambda c: list(c.call_actions_parallel("math", [SQUARE_OF_7])),
    "call_actions_parallel_future": lambda c: list(
        c.call_actions_parallel_future("math", [SQUARE_OF_7]).result()
    ),
    "call_jobs_parallel": lambda c: c.call_jobs_parallel(one_job(SQUARE_OF_7)),
    "call_jobs_parallel_future": lambda c: c.call_jobs_parallel_future(
        one_job(SQUARE_OF_7)
    ).result(),
    "send_request": sent_then_collected,
}


@pytest.mark.parametrize("style", sorted(CALL_STYLES))
def test_every_call_style_gets_its_reply(client: Client, style: str) -> None:
    assert first_body(CALL_STYLES[style](client)) == {"square": 49}


def test_a_hundred_parallel_actions_across_two_server_processes_return_in_order(
    client: Client, redis_deployment: Deployment
) -> None:
    responses = list(client.call_actions_parallel("math", identify_all(100), timeout=DEADLINE))
    assert [response.body["n"] for response in responses] == list(range(100))
    assert {response.body["pid"] for response in responses} == redis_deployment.math_pids


SLOW_CALLS: dict[str, Callable[[Client, dict[str, Any]], Any]] = {
    "call": lambda c, body: c.call_action("math", "hold", body, timeout=SHORT_TIMEOUT),
    "future": lambda c, body: c.call_action_future(
        "math", "hold", body, timeout=SHORT_TIMEOUT
    ).result(),
}


@pytest.mark.parametrize("style", sorted(SLOW_CALLS))
def test_a_slow_server_and_a_short_timeout_give_message_receive_timeout_in_time(
    client: Client, tmp_path: Path, style: str
) -> None:
    check_a_slow_call_times_out_in_time(tmp_path, lambda body: SLOW_CALLS[style](client, body))


def test_a_parallel_call_gets_what_came_in_time_and_timeouts_in_place(
    client: Client, tmp_path: Path
) -> None:
    check_what_came_in_time_is_returned_beside_a_timeout(
        tmp_path,
        lambda actions: list(
            client.call_actions_parallel(
                "math", actions, timeout=SHORT_TIMEOUT, catch_transport_errors=True
            )
        ),
    )


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("flags", FLAG_SETS, ids=flag_ids)
def test_one_failure_among_many_with_each_combination_of_flags(
    redis_deployment: Deployment, client: Client, failure: str, flags: dict[str, bool]
) -> None:
    redis_deployment.fill_broken_queue()
    check_outcome(failure, flags, lambda: client.call_jobs_parallel(mixed_jobs(failure), **flags))


def test_expansions_go_two_levels_deep(client: Client) -> None:
    response = client.call_action("books", "list_books", expansions=TWO_LEVELS, timeout=DEADLINE)
    check_expanded_two_levels_deep(response.body)


def test_a_service_calling_another_passes_on_the_correlation_id_and_switches(
    client: Client,
) -> None:
    response = client.call_action(
        "relay", "relay", {}, correlation_id="trace-42", switches=[4, 2], timeout=DEADLINE
    )
    callee = response.body["callee"]["context"]
    assert callee["correlation_id"] == "trace-42"
    assert callee["calling_service"] == "relay"
    assert callee["switches"] == [2, 4]
    assert "tests/client/remote_services.py:" in callee["caller"]
    assert callee["caller"].endswith(" in RelayToMath.run")
    assert response.body["callee"]["body"] == {"from": "relay"}
    assert "calling_service" not in response.body["own_context"]
