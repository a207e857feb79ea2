"""stub_action and ActionStub: what a stub answers, what it records, and how it is used (as a
context manager, with start/stop, and as a decorator alongside mock.patch)."""

from __future__ import annotations

import asyncio
import os
import unittest
from typing import Any
from unittest import mock

import pytest
from pydantic import BaseModel

from servicewire import (
    ActionError,
    CallActionError,
    CallJobError,
    Client,
    Error,
    JobError,
    MessageReceiveTimeout,
)
from servicewire.testing import ActionStub, StubError, stub_action
from servicewire.testing.interception import active_stubs
from tests.testing.services import RAN


def count_users(client: Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return client.call_action("users", "count_users", body).body


# --- what a stub answers ------------------------------------------------------------------


def test_a_stub_answers_with_its_body_instead_of_the_service(client: Client) -> None:
    with stub_action("users", "count_users", body={"count": 3}):
        assert count_users(client) == {"count": 3}
    assert RAN == []


def test_the_service_answers_again_once_the_stub_stops(client: Client) -> None:
    with stub_action("users", "count_users", body={"count": 3}):
        count_users(client)
    assert count_users(client, {"n": 1}) == {"real": True, "body": {"n": 1}}
    assert RAN == [("count_users", {"n": 1})]


def test_without_a_body_the_stub_answers_an_empty_body(client: Client) -> None:
    with stub_action("users", "count_users"):
        assert count_users(client) == {}


def test_errors_make_the_stub_answer_with_action_errors(client: Client) -> None:
    errors = [Error("NOT_FOUND", "no such user", field="id"), {"code": "GONE", "message": "gone"}]
    with stub_action("users", "count_users", errors=errors):
        with pytest.raises(CallActionError) as raised:
            count_users(client)
    (failed,) = raised.value.actions
    assert [(e.code, e.field, e.is_caller_error) for e in failed.errors] == [
        ("NOT_FOUND", "id", True),
        ("GONE", None, True),
    ]


def test_return_value_can_be_set_once_the_stub_has_started(client: Client) -> None:
    with stub_action("users", "count_users") as stub:
        stub.return_value = {"count": 9}
        assert count_users(client) == {"count": 9}


def test_each_call_answers_a_fresh_copy_of_the_body(client: Client) -> None:
    with stub_action("users", "count_users", body={"counts": [1]}) as stub:
        count_users(client)["counts"].append(2)
        assert count_users(client) == {"counts": [1]}
        assert stub.return_value == {"counts": [1]}


class CountModel(BaseModel):
    count: int


def raise_not_found(body: dict[str, Any]) -> dict[str, Any]:
    raise ActionError([Error("NOT_FOUND", f"no user {body['id']}")])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param({"count": 1}, {"count": 1}, id="a body dict"),
        pytest.param(CountModel(count=2), {"count": 2}, id="a pydantic model"),
        pytest.param(lambda body: {"twice": body["id"] * 2}, {"twice": 8}, id="a callable"),
        pytest.param(lambda body: None, {}, id="a callable answering None"),
        pytest.param(lambda body: lambda again: {"deep": again}, {"deep": {"id": 4}}, id="nested"),
    ],
)
@pytest.mark.parametrize("attribute", ["return_value", "side_effect"])
def test_a_stub_answers_bodies_given_in_every_form(
    client: Client, attribute: str, answer: Any, expected: dict[str, Any]
) -> None:
    with stub_action("users", "count_users") as stub:
        setattr(stub, attribute, answer)
        assert count_users(client, {"id": 4}) == expected
        assert count_users(client, {"id": 4}) == expected


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(ActionError([Error("NOT_FOUND", "no user 4")]), id="an ActionError"),
        pytest.param(raise_not_found, id="a callable raising ActionError"),
        pytest.param(lambda body: ActionError([Error("NOT_FOUND", "x")]), id="returning one"),
    ],
)
@pytest.mark.parametrize("attribute", ["return_value", "side_effect"])
def test_a_stub_answers_action_errors_given_in_every_form(
    client: Client, attribute: str, answer: Any
) -> None:
    with stub_action("users", "count_users") as stub:
        setattr(stub, attribute, answer)
        for _ in range(2):
            with pytest.raises(CallActionError) as raised:
                count_users(client, {"id": 4})
            assert [e.code for e in raised.value.actions[0].errors] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(MessageReceiveTimeout, id="a class"),
        pytest.param(MessageReceiveTimeout("too slow"), id="an instance"),
    ],
)
@pytest.mark.parametrize("attribute", ["return_value", "side_effect"])
def test_a_stub_raises_other_exceptions_to_the_caller(
    client: Client, attribute: str, answer: Any
) -> None:
    with stub_action("users", "count_users") as stub:
        setattr(stub, attribute, answer)
        with pytest.raises(MessageReceiveTimeout):
            count_users(client)


def test_a_job_error_fails_the_whole_job(client: Client) -> None:
    with stub_action("users", "count_users", side_effect=JobError([Error("DOWN", "down")])):
        with pytest.raises(CallJobError) as raised:
            count_users(client)
    assert [e.code for e in raised.value.errors] == ["DOWN"]


def test_an_iterable_side_effect_answers_one_item_per_call(client: Client) -> None:
    answers = [
        {"first": 1},
        ActionError([Error("SECOND", "second")]),
        ValueError("third"),
        lambda body: {"fourth": body},
        {"fifth": 5},
    ]
    with stub_action("users", "count_users", side_effect=answers):
        assert count_users(client) == {"first": 1}
        with pytest.raises(CallActionError, match="SECOND"):
            count_users(client)
        with pytest.raises(ValueError, match="third"):
            count_users(client)
        assert count_users(client, {"n": 4}) == {"fourth": {"n": 4}}
        assert count_users(client) == {"fifth": 5}


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(ActionError([Error("FIRST", "first")]), id="an ActionError"),
        pytest.param(MessageReceiveTimeout("first"), id="an exception"),
    ],
)
def test_an_iterable_side_effect_raises_its_first_exception_only_once(
    client: Client, first: Exception
) -> None:
    # PySOA's stubs raised the first exception of an iterable side effect on every call.
    with stub_action("users", "count_users", side_effect=[first, {"second": 2}, {"third": 3}]):
        with pytest.raises((CallActionError, MessageReceiveTimeout)):
            count_users(client)
        assert count_users(client) == {"second": 2}
        assert count_users(client) == {"third": 3}


def test_a_side_effect_that_runs_out_fails_with_a_stub_error(client: Client) -> None:
    with stub_action("users", "count_users", side_effect=[{"only": 1}]):
        count_users(client)
        with pytest.raises(StubError) as raised:
            count_users(client)
    assert str(raised.value) == (
        "The stub of users.count_users was called 2 times, but its side_effect had only 1 answers"
    )


def test_an_answer_of_the_wrong_kind_fails_with_a_stub_error(client: Client) -> None:
    with stub_action("users", "count_users") as stub:
        stub.return_value = 42
        with pytest.raises(StubError) as raised:
            count_users(client)
    assert str(raised.value) == (
        "The stub of users.count_users answered with 42: a stub answers with a body dict, an "
        "ActionError, an exception, or a callable taking the request body"
    )


def test_an_action_error_class_is_refused_for_want_of_errors(client: Client) -> None:
    with stub_action("users", "count_users", side_effect=lambda body: ActionError):
        with pytest.raises(StubError, match="give an instance, with its errors"):
            count_users(client)


def test_errors_and_side_effect_together_are_refused() -> None:
    with pytest.raises(TypeError, match="errors or side_effect, not both"):
        stub_action("users", "count_users", errors=[], side_effect={"a": 1})


def test_errors_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(TypeError, match=r"not \{'code': 'X'\}"):
        stub_action("users", "count_users", errors=[{"code": "X"}])


def test_the_service_and_action_must_be_names() -> None:
    with pytest.raises(TypeError, match="needs a service name and an action name"):
        stub_action("users", None)  # type: ignore[arg-type]


# --- what a stub records ------------------------------------------------------------------


def test_the_stub_records_each_request_body(client: Client) -> None:
    with stub_action("users", "count_users") as stub:
        assert stub.call_body is None
        assert stub.call_bodies == ()
        count_users(client, {"id": 1})
        count_users(client, {"id": 2})
    assert stub.called
    assert stub.call_count == 2
    assert stub.call_body == {"id": 2}
    assert stub.call_bodies == ({"id": 1}, {"id": 2})
    stub.assert_called_with({"id": 2})
    stub.assert_has_calls([mock.call({"id": 1}), mock.call({"id": 2})])


def test_the_recorded_body_is_what_was_sent_even_if_the_caller_changes_it(
    client: Client,
) -> None:
    body: dict[str, Any] = {"ids": [1]}
    with stub_action("users", "count_users") as stub:
        count_users(client, body)
    body["ids"].append(2)
    assert stub.call_body == {"ids": [1]}


def test_a_stub_is_a_magic_mock_named_after_its_action() -> None:
    with stub_action("users", "count_users") as stub:
        assert isinstance(stub, mock.MagicMock)
        assert isinstance(stub, ActionStub)
        assert (stub.service_name, stub.action_name) == ("users", "count_users")
        assert "users.count_users" in repr(stub)
        assert not isinstance(stub.anything, ActionStub)


# --- starting and stopping ----------------------------------------------------------------


def test_the_latest_stub_of_an_action_answers_until_it_stops(client: Client) -> None:
    with stub_action("users", "count_users", body={"outer": 1}) as outer:
        with stub_action("users", "count_users", body={"inner": 1}) as inner:
            assert count_users(client) == {"inner": 1}
        assert count_users(client) == {"outer": 1}
    assert (outer.call_count, inner.call_count) == (1, 1)


def test_start_and_stop_stub_without_a_with_block(client: Client) -> None:
    patcher = stub_action("users", "count_users", body={"count": 1})
    stub = patcher.start()
    try:
        assert count_users(client) == {"count": 1}
    finally:
        assert patcher.stop() is stub
    assert active_stubs() == []


def test_stopping_a_stub_that_is_not_started_is_an_error() -> None:
    with pytest.raises(RuntimeError, match=r"stub_action\('users', 'count_users'\) is not started"):
        stub_action("users", "count_users").stop()


def test_one_stub_action_can_be_used_again_and_again_and_nested(client: Client) -> None:
    # Reusing one PySOA stub object across tests made its wrapping recurse, until Python's
    # recursion limit broke the suite.
    patcher = stub_action("users", "count_users", body={"count": 1})
    stubs = []
    for _ in range(1500):
        with patcher as stub:
            stubs.append(stub)
    with patcher as outer, patcher as inner:
        assert count_users(client) == {"count": 1}
    assert len({id(stub) for stub in [*stubs, outer, inner]}) == len(stubs) + 2
    assert (outer.call_count, inner.call_count) == (0, 1)
    assert active_stubs() == []


def test_one_stub_action_can_decorate_many_tests(client: Client) -> None:
    patcher = stub_action("users", "count_users", body={"count": 1})
    seen = []

    @patcher
    def first(stub: ActionStub) -> None:
        seen.append(stub)
        count_users(client)

    @patcher
    def second(stub: ActionStub) -> None:
        seen.append(stub)
        count_users(client)

    for _ in range(3):
        first()
        second()
    assert len({id(stub) for stub in seen}) == 6
    assert all(stub.call_count == 1 for stub in seen)


# --- as a decorator -----------------------------------------------------------------------


def test_decorating_a_function_passes_the_stub_as_an_extra_argument(client: Client) -> None:
    @stub_action("users", "count_users", body={"count": 1})
    def check(given: str, stub: ActionStub) -> str:
        assert count_users(client) == {"count": 1}
        assert stub.call_count == 1
        return given

    assert check("passed") == "passed"
    assert active_stubs() == []


def test_the_stub_stops_when_the_decorated_function_raises() -> None:
    @stub_action("users", "count_users")
    def broken(stub: ActionStub) -> None:
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError, match="broken"):
        broken()
    assert active_stubs() == []


def test_decorated_coroutine_functions_are_stubbed_while_they_run() -> None:
    @stub_action("users", "count_users", body={"count": 1})
    async def check(stub: ActionStub) -> ActionStub:
        await asyncio.sleep(0)
        assert active_stubs() == [stub]
        return stub

    stub = asyncio.run(check())
    assert isinstance(stub, ActionStub)
    assert active_stubs() == []


def test_stacked_with_mock_patch_the_arguments_come_in_decorator_order() -> None:
    @stub_action("users", "count_users")
    @mock.patch("os.getcwd", return_value="/patched")
    @stub_action("teams", "echo")
    def check(*given: Any) -> tuple[Any, ...]:
        assert os.getcwd() == "/patched"
        return given

    echo, getcwd, count = check()
    assert (echo.action_name, count.action_name) == ("echo", "count_users")
    assert isinstance(getcwd, mock.MagicMock)
    assert not isinstance(getcwd, ActionStub)


@stub_action("users", "get_user", body={"user": {"id": 1}})
class DecoratedCase(unittest.TestCase):
    """The reference's example: class and method decorators, stubs in mock.patch order."""

    def test_the_class_stub_is_passed_to_each_test(self, stub_get_user: ActionStub) -> None:
        assert stub_get_user.action_name == "get_user"
        assert stub_get_user.return_value == {"user": {"id": 1}}

    @stub_action("teams", "echo")
    @mock.patch("os.getcwd", return_value="/patched")
    def test_method_stubs_come_first(
        self, getcwd: mock.MagicMock, stub_echo: ActionStub, stub_get_user: ActionStub
    ) -> None:
        assert os.getcwd() == "/patched"
        assert [stub_echo.action_name, stub_get_user.action_name] == ["echo", "get_user"]

    @classmethod
    @stub_action("teams", "echo")
    def test_a_class_method(cls, stub_echo: ActionStub, stub_get_user: ActionStub) -> None:
        assert cls is DecoratedCase
        assert [stub_echo.action_name, stub_get_user.action_name] == ["echo", "get_user"]

    @stub_action("teams", "echo")
    @classmethod
    def test_a_class_method_decorated_outside(
        cls, stub_echo: ActionStub, stub_get_user: ActionStub
    ) -> None:
        assert cls is DecoratedCase
        assert [stub_echo.action_name, stub_get_user.action_name] == ["echo", "get_user"]

    @staticmethod
    def test_a_static_method(stub_get_user: ActionStub) -> None:
        assert stub_get_user.action_name == "get_user"

    def helper(self) -> str:
        return "not a test: not stubbed"


def test_decorating_a_class_runs_each_test_with_a_new_stub() -> None:
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(DecoratedCase).run(result)
    assert (result.testsRun, result.failures, result.errors) == (5, [], [])
    assert DecoratedCase().helper() == "not a test: not stubbed"
    assert active_stubs() == []


class BaseCase:
    def test_inherited(self, *stubs: ActionStub) -> tuple[ActionStub, ...]:
        return stubs


@stub_action("users", "count_users")
class DerivedCase(BaseCase):
    pass


def test_decorating_a_subclass_leaves_its_base_class_alone() -> None:
    assert len(DerivedCase().test_inherited()) == 1
    assert BaseCase().test_inherited() == ()


def test_only_classes_and_callables_can_be_decorated() -> None:
    with pytest.raises(TypeError, match="can decorate classes, functions and methods, not 3"):
        stub_action("users", "count_users")(3)
