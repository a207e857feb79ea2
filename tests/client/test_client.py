"""The client: every call style over the local transport, errors, context and middleware."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from servicewire import (
    Action,
    ActionError,
    ActionRequest,
    ActionResponse,
    CallActionError,
    CallJobError,
    Client,
    ClientMiddleware,
    EnrichedActionRequest,
    Error,
    ImproperlyConfigured,
    InvalidSettings,
    JobRequest,
    JobResponse,
    MessageReceiveTimeout,
    MessageSendError,
    Server,
)
from servicewire.client.middleware import GetResponse, SendRequest
from tests.support.transports import ReorderingLocalTransport


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"body": request.body, "context": request.context, "control": request.control}


class Fail(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ActionError([Error("FAILED", request.body.get("why", "because"))])


class Square(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"square": request.body["number"] ** 2}


class Math(Server):
    service_name = "math"
    action_class_map: ClassVar[dict[str, Any]] = {"echo": Echo, "fail": Fail, "square": Square}


class Words(Server):
    service_name = "words"
    action_class_map: ClassVar[dict[str, Any]] = {"echo": Echo, "fail": Fail}


def local_settings(server_class: type[Server], **extra: Any) -> dict[str, Any]:
    return {
        "transport": {
            "path": "servicewire.transport.local:LocalClientTransport",
            "kwargs": {"server_class": server_class, "server_settings": {}},
        },
        **extra,
    }


@pytest.fixture
def client() -> Client:
    return Client({"math": local_settings(Math), "words": local_settings(Words)})


# --- one action, one job ----------------------------------------------------------------


def test_call_action_returns_the_action_response(client: Client) -> None:
    response = client.call_action("math", "square", {"number": 7})
    assert response == ActionResponse("square", body={"square": 49})


def test_call_action_without_a_body_sends_an_empty_one(client: Client) -> None:
    assert client.call_action("math", "echo").body["body"] == {}


def test_call_action_raises_call_action_error(client: Client) -> None:
    with pytest.raises(CallActionError) as caught:
        client.call_action("math", "fail", {"why": "testing"})
    assert caught.value.actions == [
        ActionResponse("fail", errors=[Error("FAILED", "testing", is_caller_error=True)])
    ]


def test_call_action_can_return_action_errors(client: Client) -> None:
    response = client.call_action("math", "fail", raise_action_errors=False)
    assert response.errors[0].code == "FAILED"


def test_call_action_raises_call_job_error_for_job_errors(client: Client) -> None:
    with pytest.raises(CallJobError) as caught:
        client.call_action("math", "echo", control_extra={"continue_on_error": "yes"})
    assert [(e.code, e.field) for e in caught.value.errors] == [
        ("INVALID", "control.continue_on_error")
    ]


def test_call_action_returns_the_job_errors_when_asked_not_to_raise(client: Client) -> None:
    errors = client.call_action(
        "math", "echo", control_extra={"continue_on_error": "yes"}, raise_job_errors=False
    )
    assert isinstance(errors, list)
    assert errors[0].code == "INVALID"  # type: ignore[attr-defined]


def test_call_actions_returns_the_job_response(client: Client) -> None:
    response = client.call_actions(
        "math",
        [ActionRequest("square", {"number": 2}), {"action": "square", "body": {"number": 3}}],
    )
    assert isinstance(response, JobResponse)
    assert [a.body for a in response.actions] == [{"square": 4}, {"square": 9}]
    assert response.context["correlation_id"]


def test_call_actions_raises_for_any_failed_action(client: Client) -> None:
    with pytest.raises(CallActionError) as caught:
        client.call_actions(
            "math", [{"action": "fail"}, {"action": "echo"}], continue_on_error=True
        )
    assert [a.action for a in caught.value.actions] == ["fail"]


def test_call_actions_stops_at_the_first_error_unless_continuing(client: Client) -> None:
    stopped = client.call_actions(
        "math", [{"action": "fail"}, {"action": "echo"}], raise_action_errors=False
    )
    assert [a.action for a in stopped.actions] == ["fail"]
    continued = client.call_actions(
        "math",
        [{"action": "fail"}, {"action": "echo"}],
        raise_action_errors=False,
        continue_on_error=True,
    )
    assert [a.action for a in continued.actions] == ["fail", "echo"]


def test_an_unknown_service_is_improperly_configured(client: Client) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'nowhere'.*math, words"):
        client.call_action("nowhere", "echo")


def test_client_settings_are_validated_at_construction() -> None:
    with pytest.raises(InvalidSettings, match="transport"):
        Client({"math": {"transport": {"path": "builtins:dict"}}})
    with pytest.raises(InvalidSettings, match="colour: unknown key"):
        Client({"math": {**local_settings(Math), "colour": "red"}})


# --- context and control ----------------------------------------------------------------


def echoed(client: Client, **kwargs: Any) -> dict[str, Any]:
    return dict(client.call_action("math", "echo", **kwargs).body)


def test_a_correlation_id_is_generated_per_call(client: Client) -> None:
    first = echoed(client)["context"]["correlation_id"]
    second = echoed(client)["context"]["correlation_id"]
    assert len(first) == 32
    assert int(first, 16) >= 0
    assert first != second


def test_the_correlation_id_can_be_given_or_inherited() -> None:
    inheriting = Client({"math": local_settings(Math)}, context={"correlation_id": "parent"})
    assert echoed(inheriting)["context"]["correlation_id"] == "parent"
    assert echoed(inheriting, correlation_id="mine")["context"]["correlation_id"] == "mine"


def test_switches_from_the_client_the_call_and_the_call_context_are_merged() -> None:
    client = Client({"math": local_settings(Math)}, context={"switches": [1]})
    context = echoed(client, switches=[3, 2], context={"switches": [4]})["context"]
    assert context["switches"] == [1, 2, 3, 4]
    assert echoed(Client({"math": local_settings(Math)}))["context"]["switches"] == []


def test_the_base_context_is_merged_with_the_call_context() -> None:
    client = Client({"math": local_settings(Math)}, context={"tenant": "a", "locale": "fr"})
    context = echoed(client, context={"locale": "de", "request": 5})["context"]
    assert (context["tenant"], context["locale"], context["request"]) == ("a", "de", 5)
    assert client.context == {"tenant": "a", "locale": "fr"}


def test_the_caller_is_the_call_site_unless_given() -> None:
    client = Client({"math": local_settings(Math)})
    line = sys._getframe().f_lineno + 1
    context = client.call_action("math", "echo").body["context"]
    assert context["caller"] == f"{__file__}:{line} in {sys._getframe().f_code.co_name}"
    given = echoed(client, context={"caller": "nightly report"})["context"]
    assert given["caller"] == "nightly report"
    fixed = Client({"math": local_settings(Math)}, context={"caller": "billing"})
    assert echoed(fixed)["context"]["caller"] == "billing"


def caller_of(result: Any) -> str:
    """The caller an echo call's context carried, whatever the call style returned."""
    if isinstance(result, list):
        (result,) = result
    if isinstance(result, JobResponse):
        (result,) = result.actions
    return str(result.body["context"]["caller"])


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.call_action("math", "echo"),
        lambda c: c.call_actions("math", [{"action": "echo"}]),
        lambda c: c.call_action_future("math", "echo").result(),
        lambda c: c.call_actions_future("math", [{"action": "echo"}]).result(),
        lambda c: list(c.call_actions_parallel("math", [{"action": "echo"}])),
        lambda c: list(c.call_actions_parallel_future("math", [{"action": "echo"}]).result()),
        lambda c: c.call_jobs_parallel([{"service_name": "math", "actions": [{"action": "echo"}]}]),
        lambda c: (
            [r for _, r in c.get_all_responses("math")]
            if c.send_request("math", [{"action": "echo"}])
            else []
        ),
    ],
)
def test_every_call_style_names_its_own_call_site(client: Client, call: Any) -> None:
    caller = caller_of(call(client))
    assert caller.startswith(f"{__file__}:")
    assert caller.endswith(" in <lambda>")


class Gateway(Action):
    """Calls the math service through the client the server gives its actions."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        inner = request.client.call_action("math", "echo")
        return {"inner_context": inner.body["context"], "own_context": request.context}


class GatewayServer(Server):
    service_name = "gateway"
    action_class_map: ClassVar[dict[str, Any]] = {"relay": Gateway}


def gateway_settings() -> dict[str, Any]:
    return {
        "transport": {
            "path": "servicewire.transport.local:LocalClientTransport",
            "kwargs": {
                "server_class": GatewayServer,
                "server_settings": {"client_routing": {"math": local_settings(Math)}},
            },
        }
    }


def test_the_client_of_a_server_passes_the_correlation_id_on_and_names_its_service() -> None:
    client = Client({"gateway": gateway_settings()})
    body = client.call_action("gateway", "relay", correlation_id="trace-7").body
    assert body["inner_context"]["correlation_id"] == "trace-7"
    assert body["inner_context"]["calling_service"] == "gateway"
    assert "calling_service" not in body["own_context"]


def test_control_carries_timeout_and_extras(client: Client) -> None:
    control = echoed(client, timeout=7, control_extra={"priority": "high"})["control"]
    assert control == {
        "continue_on_error": False,
        "suppress_response": False,
        "timeout": 7,
        "priority": "high",
    }


def test_send_request_and_get_all_responses(client: Client) -> None:
    first = client.send_request("math", [{"action": "square", "body": {"number": 2}}])
    second = client.send_request("math", [{"action": "square", "body": {"number": 3}}])
    responses = dict(client.get_all_responses("math"))
    assert set(responses) == {first, second}
    assert responses[second].actions[0].body == {"square": 9}
    assert list(client.get_all_responses("math")) == []


def test_suppress_response_expects_no_reply(client: Client) -> None:
    client.send_request("math", [{"action": "echo"}], suppress_response=True)
    assert list(client.get_all_responses("math")) == []


def test_request_ids_increase_per_service(client: Client) -> None:
    first = client.send_request("math", [{"action": "echo"}])
    second = client.send_request("math", [{"action": "echo"}])
    assert second == first + 1
    list(client.get_all_responses("math"))


# --- futures ------------------------------------------------------------------------------


def test_call_action_future(client: Client) -> None:
    future = client.call_action_future("math", "square", {"number": 5})
    assert not future.done()
    assert future.result().body == {"square": 25}
    assert future.done()
    assert not future.running()
    assert future.exception() is None


def test_a_future_raises_when_its_result_is_read(client: Client) -> None:
    future = client.call_action_future("math", "fail")
    error = future.exception()
    assert isinstance(error, CallActionError)
    with pytest.raises(CallActionError):
        future.result()


def test_call_actions_future(client: Client) -> None:
    future = client.call_actions_future("math", [{"action": "square", "body": {"number": 3}}])
    assert future.result().actions[0].body == {"square": 9}


def test_call_action_future_returns_job_errors_when_asked(client: Client) -> None:
    future = client.call_action_future(
        "math", "echo", control_extra={"continue_on_error": 1}, raise_job_errors=False
    )
    result = future.result()
    assert isinstance(result, list)
    assert result[0].code == "INVALID"


# --- parallel -----------------------------------------------------------------------------


def test_call_actions_parallel_returns_responses_in_request_order(client: Client) -> None:
    responses = list(
        client.call_actions_parallel(
            "math", [{"action": "square", "body": {"number": n}} for n in range(10)]
        )
    )
    assert [r.body["square"] for r in responses] == [n * n for n in range(10)]


def test_call_actions_parallel_sends_one_job_per_action(client: Client) -> None:
    responses = list(client.call_actions_parallel("math", [{"action": "echo"}] * 3))
    assert len({r.body["context"]["correlation_id"] for r in responses}) == 1
    assert all(r.action == "echo" for r in responses)


def test_call_actions_parallel_raises_action_errors(client: Client) -> None:
    with pytest.raises(CallActionError):
        list(client.call_actions_parallel("math", [{"action": "echo"}, {"action": "fail"}]))


def test_call_actions_parallel_can_return_errors_in_place(client: Client) -> None:
    responses = list(
        client.call_actions_parallel(
            "math", [{"action": "echo"}, {"action": "fail"}], raise_action_errors=False
        )
    )
    assert [bool(r.errors) for r in responses] == [False, True]


def test_call_actions_parallel_future(client: Client) -> None:
    future = client.call_actions_parallel_future(
        "math", [{"action": "square", "body": {"number": 4}}]
    )
    assert [r.body for r in future.result()] == [{"square": 16}]


def test_call_jobs_parallel_across_services(client: Client) -> None:
    responses = client.call_jobs_parallel(
        [
            {"service_name": "math", "actions": [{"action": "square", "body": {"number": 2}}]},
            {"service_name": "words", "actions": [{"action": "echo", "body": {"w": "hi"}}]},
            {"service_name": "math", "actions": [{"action": "echo"}, {"action": "echo"}]},
        ]
    )
    assert responses[0].actions[0].body == {"square": 4}
    assert responses[1].actions[0].body["body"] == {"w": "hi"}
    assert len(responses[2].actions) == 2


def test_call_jobs_parallel_raises_job_errors_or_returns_them() -> None:
    client = Client({"math": local_settings(Math)})
    bad = [{"service_name": "math", "actions": [{"action": "echo"}]}]
    with pytest.raises(CallJobError):
        client.call_jobs_parallel(bad, control_extra={"continue_on_error": "x"})
    (response,) = client.call_jobs_parallel(
        bad, control_extra={"continue_on_error": "x"}, raise_job_errors=False
    )
    assert response.errors[0].field == "control.continue_on_error"


def test_call_jobs_parallel_future(client: Client) -> None:
    future = client.call_jobs_parallel_future(
        [{"service_name": "words", "actions": [{"action": "echo"}]}]
    )
    assert future.result()[0].actions[0].action == "echo"


# --- one failure among many, with every combination of flags -------------------------------

FAILURES = ("action", "job", "transport")
FLAG_NAMES = ("raise_job_errors", "raise_action_errors", "catch_transport_errors")
FLAGS = [
    (raise_job_errors, raise_action_errors, catch_transport_errors)
    for raise_job_errors in (True, False)
    for raise_action_errors in (True, False)
    for catch_transport_errors in (True, False)
]


FLAG_SETS = [dict(zip(FLAG_NAMES, flags, strict=True)) for flags in FLAGS]
"""Each combination of the flags, as keyword arguments."""


def flag_ids(flags: dict[str, bool]) -> str:
    return "-".join(f"{name.split('_')[1]}{int(value)}" for name, value in flags.items())


def mixed_jobs(failure: str) -> list[dict[str, Any]]:
    """Nine good jobs and one bad one, in the middle: an action error, a job error (a job
    without actions is invalid) or a transport error (a service that cannot be reached)."""
    bad = {
        "action": {"service_name": "math", "actions": [{"action": "fail"}]},
        "job": {"service_name": "math", "actions": []},
        "transport": {"service_name": "broken", "actions": [{"action": "echo"}]},
    }[failure]
    jobs = [
        {"service_name": "math", "actions": [{"action": "square", "body": {"number": n}}]}
        for n in range(9)
    ]
    jobs.insert(5, bad)
    return jobs


def broken_settings() -> dict[str, Any]:
    return {"transport": {"path": "tests.support.transports:BrokenTransport"}}


def expected_error(
    failure: str, raise_job_errors: bool, raise_action_errors: bool, catch_transport_errors: bool
) -> type[Exception] | None:
    """What a parallel call with the ``failure`` of :func:`mixed_jobs` raises, if anything."""
    return {
        "action": CallActionError if raise_action_errors else None,
        "job": CallJobError if raise_job_errors else None,
        "transport": None if catch_transport_errors else MessageSendError,
    }[failure]


def check_outcome(failure: str, flags: dict[str, bool], call: Callable[[], list[Any]]) -> None:
    """Make ``call``, a parallel call of :func:`mixed_jobs` with ``flags``: it raises what
    :func:`expected_error` says, or returns the results in place."""
    error = expected_error(failure, **flags)
    if error is not None:
        with pytest.raises(error):
            call()
    else:
        check_results_in_place(failure, call())


def check_results_in_place(failure: str, results: list[Any]) -> None:
    """The results of :func:`mixed_jobs` when nothing was raised: all in request order, the
    failure in its place."""
    assert len(results) == 10
    good = results[:5] + results[6:]
    assert [r.actions[0].body["square"] for r in good] == [n * n for n in range(9)]
    bad = results[5]
    if failure == "action":
        assert bad.actions[0].errors[0].code == "FAILED"
    elif failure == "job":
        assert bad.errors
        assert not bad.actions
    else:
        assert isinstance(bad, MessageSendError)


@pytest.mark.parametrize("future", [False, True], ids=["call", "future"])
@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("flags", FLAG_SETS, ids=flag_ids)
def test_one_failure_among_many_with_each_combination_of_flags(
    failure: str, flags: dict[str, bool], future: bool
) -> None:
    client = Client({"math": local_settings(Math), "broken": broken_settings()})

    def call() -> list[Any]:
        if future:
            return client.call_jobs_parallel_future(mixed_jobs(failure), **flags).result()
        return client.call_jobs_parallel(mixed_jobs(failure), **flags)

    check_outcome(failure, flags, call)


@pytest.mark.parametrize("raise_action_errors", [True, False])
def test_call_actions_parallel_with_one_failing_action_among_many(
    client: Client, raise_action_errors: bool
) -> None:
    actions = [{"action": "square", "body": {"number": n}} for n in range(9)]
    actions.insert(4, {"action": "fail"})
    if raise_action_errors:
        with pytest.raises(CallActionError) as caught:
            list(client.call_actions_parallel("math", actions))
        assert [a.action for a in caught.value.actions] == ["fail"]
        return
    results = list(client.call_actions_parallel("math", actions, raise_action_errors=False))
    assert [bool(r.errors) for r in results] == [i == 4 for i in range(10)]


# --- transports misbehaving --------------------------------------------------------------


def reordering_client() -> tuple[Client, ReorderingLocalTransport]:
    client = Client(
        {
            "math": {
                "transport": {
                    "path": "tests.support.transports:ReorderingLocalTransport",
                    "kwargs": {"server_class": Math},
                }
            }
        }
    )
    transport = client._get_handler("math").transport
    assert isinstance(transport, ReorderingLocalTransport)
    return client, transport


def test_replies_arriving_out_of_order_are_matched_by_request_id() -> None:
    client, _ = reordering_client()
    futures = [client.call_action_future("math", "square", {"number": n}) for n in range(5)]
    assert [f.result().body["square"] for f in futures] == [0, 1, 4, 9, 16]


def test_a_stale_reply_is_dropped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    client, transport = reordering_client()
    transport.stale.append((123456789, {}, JobResponse().to_dict()))  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="servicewire.client"):
        response = client.call_action("math", "square", {"number": 3})
    assert response.body == {"square": 9}
    assert "123456789" in caplog.text
    assert "nobody is waiting" in caplog.text


def test_a_malformed_reply_is_a_typed_error() -> None:
    from servicewire import InvalidMessageError

    client, transport = reordering_client()
    future = client.call_action_future("math", "square", {"number": 1})
    transport._state.responses.clear()
    request_id = next(iter(client._get_handler("math")._state().outstanding))
    transport.stale.append((request_id, {}, {"actions": [{"no_action_key": 1}]}))  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match="Malformed response") as caught:
        future.result()
    assert caught.value.request_id == request_id


def test_catch_transport_errors_returns_them_in_place() -> None:
    client, transport = reordering_client()
    transport.fail_sends.append(MessageSendError("queue full"))
    results = list(
        client.call_actions_parallel(
            "math",
            [{"action": "square", "body": {"number": n}} for n in (1, 2)],
            catch_transport_errors=True,
        )
    )
    assert isinstance(results[0], MessageSendError)
    assert results[1].body == {"square": 4}


def test_transport_errors_propagate_by_default() -> None:
    client, transport = reordering_client()
    transport.fail_sends.append(MessageSendError("queue full"))
    with pytest.raises(MessageSendError):
        client.call_actions_parallel("math", [{"action": "echo"}])


def test_a_receive_timeout_reaches_the_caller_and_later_replies_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, transport = reordering_client()
    transport.newest_first = False
    transport.fail_receives.append(MessageReceiveTimeout("slow"))
    with pytest.raises(MessageReceiveTimeout):
        client.call_action("math", "square", {"number": 2})
    # The reply arrives late: nobody waits for it any more.
    with caplog.at_level("WARNING", logger="servicewire.client"):
        assert client.call_action("math", "square", {"number": 3}).body == {"square": 9}
    assert "nobody is waiting" in caplog.text


def test_a_future_may_be_read_again_after_a_timeout() -> None:
    client, transport = reordering_client()
    future = client.call_action_future("math", "square", {"number": 6})
    transport.fail_receives.append(MessageReceiveTimeout("slow"))
    with pytest.raises(MessageReceiveTimeout):
        future.result()
    assert future.result().body == {"square": 36}


SQUARES_OF_2_AND_3 = [
    {"action": "square", "body": {"number": 2}},
    {"action": "square", "body": {"number": 3}},
]


def test_a_parallel_call_returns_the_replies_that_came_beside_a_timeout_when_caught() -> None:
    client, transport = reordering_client()
    transport.newest_first = False
    future = client.call_actions_parallel_future(
        "math", SQUARES_OF_2_AND_3, catch_transport_errors=True
    )
    transport._state.responses.pop()  # the second reply never comes
    first, second = future.result()
    assert first.body == {"square": 4}
    assert isinstance(second, MessageReceiveTimeout)


def test_a_parallel_future_read_again_after_a_timeout_has_every_reply() -> None:
    client, transport = reordering_client()
    transport.newest_first = False
    future = client.call_actions_parallel_future("math", SQUARES_OF_2_AND_3)
    late = transport._state.responses.pop()
    with pytest.raises(MessageReceiveTimeout):
        future.result()
    transport._state.responses.append(late)
    assert [response.body for response in future.result()] == [{"square": 4}, {"square": 9}]


def test_a_parallel_receive_timeout_is_returned_in_place_when_caught() -> None:
    client, transport = reordering_client()
    transport.fail_receives.append(MessageReceiveTimeout("slow"))
    results = list(
        client.call_actions_parallel(
            "math", [{"action": "echo"}, {"action": "echo"}], catch_transport_errors=True
        )
    )
    assert all(isinstance(result, MessageReceiveTimeout) for result in results)


# --- middleware ---------------------------------------------------------------------------


class Counting(ClientMiddleware):
    log: ClassVar[list[str]] = []

    def __init__(self, name: str = "m") -> None:
        self.name = name

    def request(self, send_request: SendRequest) -> SendRequest:
        def wrapped(
            request_id: int, meta: dict[str, Any], job: JobRequest, expiry: int | float | None
        ) -> None:
            self.log.append(f"{self.name} send {request_id}")
            meta["traced_by"] = self.name
            send_request(request_id, meta, job, expiry)

        return wrapped

    def response(self, get_response: GetResponse) -> GetResponse:
        def wrapped(timeout: int | float | None) -> tuple[int | None, JobResponse | None]:
            request_id, response = get_response(timeout)
            self.log.append(f"{self.name} receive {request_id}")
            return request_id, response

        return wrapped


def middleware_client() -> Client:
    Counting.log.clear()
    return Client(
        {
            "math": local_settings(
                Math,
                middleware=[
                    {"path": Counting, "kwargs": {"name": "outer"}},
                    {"path": Counting, "kwargs": {"name": "inner"}},
                ],
            )
        }
    )


def assert_one_job_went_through_the_middleware_in_order() -> None:
    request_id = int(Counting.log[0].split()[-1])
    assert Counting.log == [
        f"outer send {request_id}",
        f"inner send {request_id}",
        f"inner receive {request_id}",
        f"outer receive {request_id}",
    ]


def test_client_middleware_sees_each_job_once_in_order() -> None:
    client = middleware_client()
    client.call_action("math", "echo")
    assert_one_job_went_through_the_middleware_in_order()


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.call_actions("math", [{"action": "echo"}]),
        lambda c: c.call_action_future("math", "echo").result(),
        lambda c: list(c.call_actions_parallel("math", [{"action": "echo"}] * 3)),
        lambda c: c.call_jobs_parallel([{"service_name": "math", "actions": [{"action": "echo"}]}]),
    ],
)
def test_client_middleware_sees_every_call_style_once_per_job(call: Any) -> None:
    client = middleware_client()
    call(client)
    sends = [line for line in Counting.log if "send" in line]
    receives = [line for line in Counting.log if "receive" in line]
    assert len(sends) == len(receives) == 2 * len({line.split()[-1] for line in sends})


def test_middleware_kwargs_are_validated() -> None:
    with pytest.raises(InvalidSettings, match=r"middleware\.0"):
        Client({"math": local_settings(Math, middleware=[{"path": "builtins:object"}])})


# --- threads ------------------------------------------------------------------------------


def test_a_client_may_be_shared_by_threads(client: Client) -> None:
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            results[thread] = [
                client.call_action("math", "square", {"number": thread * 100 + n}).body["square"]
                for n in range(50)
            ]
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {t: [(t * 100 + n) ** 2 for n in range(50)] for t in range(8)}


def test_client_error_aliases_match_the_reference() -> None:
    assert Client.CallActionError is CallActionError
    assert Client.CallJobError is CallJobError
    assert Client.JobError is CallJobError
    assert Client.ImproperlyConfigured is ImproperlyConfigured
