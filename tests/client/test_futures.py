"""Future responses."""

from __future__ import annotations

import pytest

from servicewire import FutureResponse, MessageReceiveTimeout


def test_the_result_is_fetched_once_and_remembered() -> None:
    calls: list[float | None] = []

    def get(timeout: float | None) -> str:
        calls.append(timeout)
        return "value"

    future = FutureResponse(get)
    assert future.running()
    assert not future.done()
    assert future.result(3) == "value"
    assert future.result() == "value"
    assert calls == [3]
    assert future.done()
    assert future.exception() is None


def test_errors_are_remembered_and_raised_again() -> None:
    calls = []

    def get(timeout: float | None) -> str:
        calls.append(1)
        raise KeyError("boom")

    future: FutureResponse[str] = FutureResponse(get)
    with pytest.raises(KeyError):
        future.result()
    with pytest.raises(KeyError):
        future.result()
    assert isinstance(future.exception(), KeyError)
    assert calls == [1]
    assert future.done()


def test_a_timeout_is_not_remembered() -> None:
    attempts = iter([MessageReceiveTimeout("slow"), "late value"])

    def get(timeout: float | None) -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    future = FutureResponse(get)
    with pytest.raises(MessageReceiveTimeout):
        future.exception()
    assert not future.done()
    assert future.result() == "late value"


def test_exception_waits_and_returns_the_error() -> None:
    def get(timeout: float | None) -> str:
        raise ValueError("bad")

    error = FutureResponse(get).exception()
    assert isinstance(error, ValueError)
