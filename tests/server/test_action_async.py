"""Actions: what ``run`` may return, and actions whose ``run`` is ``async def``."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections import OrderedDict
from typing import Any

import pytest
from pydantic import BaseModel

from servicewire import (
    Action,
    ActionError,
    CallActionError,
    CoroutineMiddleware,
    EnrichedActionRequest,
    Error,
    HarakiriInterrupt,
    Server,
)
from servicewire.server.coroutine import AsyncEventLoopThread
from tests.support.coroutines import Stuck
from tests.support.local import collecting_logs, serving


class Total(BaseModel):
    total: int


class Numbers(BaseModel):
    numbers: list[int]


class AsyncSum(Action):
    """Adds numbers on the event loop."""

    request_schema = Numbers
    response_schema = Total

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        partial_sums = await asyncio.gather(*(self.value(n) for n in request.body["numbers"]))
        return {"total": sum(partial_sums)}

    async def value(self, number: int) -> int:
        await asyncio.sleep(0)
        return number


class AsyncWhere(Action):
    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        logging.getLogger("tests.async_action").info("running")
        return {"thread": threading.current_thread().name}


class AsyncModel(Action):
    async def run(self, request: EnrichedActionRequest) -> BaseModel:
        return Total(total=7)


class AsyncRefuses(Action):
    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ActionError([Error(code="NOT_ALLOWED", message="no", field="who")])


class AsyncBreaks(Action):
    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise RuntimeError("async bug")


class AsyncBadResponse(Action):
    response_schema = Total

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"total": "many"}


class ReturnsNone(Action):
    def run(self, request: EnrichedActionRequest) -> None:  # type: ignore[override]
        return None


class ReturnsOrderedDict(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return OrderedDict(a=1)


class ReturnsList(Action):
    def run(self, request: EnrichedActionRequest) -> Any:
        return [1, 2]


class Calculator(Server):
    service_name = "calc"
    action_class_map = {
        "sum": AsyncSum,
        "where": AsyncWhere,
        "model": AsyncModel,
        "refuses": AsyncRefuses,
        "breaks": AsyncBreaks,
        "bad_response": AsyncBadResponse,
        "none": ReturnsNone,
        "ordered": ReturnsOrderedDict,
        "list": ReturnsList,
    }


def test_an_async_run_runs_on_the_servers_event_loop() -> None:
    with serving(Calculator) as client:
        assert client.call_action("calc", "sum", {"numbers": [1, 2, 3]}).body == {"total": 6}
        assert client.call_action("calc", "where").body == {"thread": "calc-event-loop"}


def test_an_async_run_may_return_a_pydantic_model() -> None:
    with serving(Calculator) as client:
        assert client.call_action("calc", "model").body == {"total": 7}


def test_an_async_action_validates_its_request_before_running() -> None:
    with serving(Calculator) as client, pytest.raises(CallActionError) as raised:
        client.call_action("calc", "sum", {"numbers": ["one"]})
    [error] = raised.value.actions[0].errors
    assert (error.code, error.field, error.is_caller_error) == ("INVALID", "numbers.0", True)


def test_an_async_action_error_reaches_the_caller() -> None:
    with serving(Calculator) as client, pytest.raises(CallActionError) as raised:
        client.call_action("calc", "refuses")
    [error] = raised.value.actions[0].errors
    assert (error.code, error.field) == ("NOT_ALLOWED", "who")


def test_an_async_action_that_breaks_is_a_server_error_and_the_server_serves_on() -> None:
    with serving(Calculator) as client:
        with pytest.raises(CallActionError) as raised:
            client.call_action("calc", "breaks")
        [error] = raised.value.actions[0].errors
        assert error.code == "SERVER_ERROR"
        assert "async bug" in error.message
        assert client.call_action("calc", "sum", {"numbers": [4]}).body == {"total": 4}


def test_an_async_actions_response_is_checked_against_its_schema() -> None:
    with serving(Calculator) as client, pytest.raises(CallActionError) as raised:
        client.call_action("calc", "bad_response")
    [error] = raised.value.actions[0].errors
    assert error.code == "SERVER_ERROR"
    assert "total" in error.message


def test_records_logged_by_an_async_action_carry_the_jobs_context() -> None:
    with collecting_logs() as logs, serving(Calculator) as client:
        client.call_action("calc", "where", correlation_id="corr-async")
    [record] = [record for record in logs.records if record.name == "tests.async_action"]
    assert record.correlation_id == "corr-async"  # type: ignore[attr-defined]
    assert record.action_name == "where"  # type: ignore[attr-defined]


seen_by_middleware: list[str] = []


class Watching(CoroutineMiddleware):
    def before_run_coroutine(self) -> None:
        seen_by_middleware.append("before")

    def coroutine(self, coroutine: Any) -> Any:
        async def wrapper() -> Any:
            seen_by_middleware.append(f"running {coroutine.__qualname__}")
            return await coroutine

        return wrapper()


def test_an_async_run_goes_through_the_coroutine_middleware() -> None:
    seen_by_middleware.clear()
    settings = {"coroutine_middleware": [{"path": f"{__name__}:Watching"}]}
    with serving(Calculator, settings) as client:
        client.call_action("calc", "model")
    assert seen_by_middleware == ["before", "running AsyncModel.run"]


def test_an_async_action_called_outside_a_server_runs_in_a_loop_of_its_own() -> None:
    response = AsyncSum()(EnrichedActionRequest("sum", {"numbers": [5, 6]}))
    assert response.body == {"total": 11}


def test_a_run_returning_none_answers_an_empty_body() -> None:
    with serving(Calculator) as client:
        assert client.call_action("calc", "none").body == {}


def test_a_run_returning_a_dict_subclass_answers_it() -> None:
    with serving(Calculator) as client:
        assert client.call_action("calc", "ordered").body == {"a": 1}


def test_a_run_returning_something_else_is_a_server_error() -> None:
    with serving(Calculator) as client, pytest.raises(CallActionError) as raised:
        client.call_action("calc", "list")
    [error] = raised.value.actions[0].errors
    assert error.code == "SERVER_ERROR"
    assert "run() returned a list, not a dict" in error.message


def test_an_interrupted_wait_for_an_async_run_cancels_the_coroutine() -> None:
    stuck = Stuck()

    class Waits(Action):
        async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            await stuck.wait()
            return {}

    def interrupt(signal_number: int, frame: object) -> None:
        raise HarakiriInterrupt()

    def interrupt_once_started(thread_id: int) -> None:
        if stuck.started.wait(10):
            signal.pthread_kill(thread_id, signal.SIGUSR1)

    loop = AsyncEventLoopThread()
    loop.start()
    previous = signal.signal(signal.SIGUSR1, interrupt)
    interrupter = threading.Thread(target=interrupt_once_started, args=(threading.get_ident(),))
    try:
        interrupter.start()
        request = EnrichedActionRequest("waits", {}, run_coroutine=loop.run_coroutine)
        with pytest.raises(HarakiriInterrupt):
            Waits()(request)
        assert stuck.cancelled.wait(10)
    finally:
        interrupter.join(10)
        signal.signal(signal.SIGUSR1, previous)
        loop.stop()
