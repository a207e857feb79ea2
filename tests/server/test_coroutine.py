"""The server's event loop: ``request.run_coroutine``, coroutine middleware, shutdown."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from servicewire import Action, CoroutineMiddleware, EnrichedActionRequest, Server
from servicewire.logging import LogContextFilter, log_context
from servicewire.server.coroutine import (
    AsyncEventLoopThread,
    CoroutineFuture,
    DefaultCoroutineMiddleware,
)
from tests.support.coroutines import Stuck
from tests.support.local import collecting_logs, local_server, serving

WAIT = 10  # seconds: an upper bound for things that happen at once, never a measurement


class Journal:
    """What happened, in order, and in which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[str] = []
        self.threads: dict[str, str] = {}

    def write(self, entry: str) -> None:
        with self.lock:
            self.entries.append(entry)
            self.threads[entry] = threading.current_thread().name


journal = Journal()
release = threading.Event()
finished = threading.Event()
request_variable: contextvars.ContextVar[str] = contextvars.ContextVar("request_variable")


@pytest.fixture(autouse=True)
def _fresh_journal() -> Iterator[None]:
    global journal
    journal = Journal()
    release.clear()
    finished.clear()
    yield
    release.set()  # never leave a coroutine waiting behind a failed test


class Recording(CoroutineMiddleware):
    label = ""

    def before_run_coroutine(self) -> None:
        journal.write(f"before {self.label}")

    def coroutine(self, coroutine: Any) -> Any:
        journal.write(f"wrap {self.label}")

        async def wrapper() -> Any:
            journal.write(f"enter {self.label}")
            try:
                return await coroutine
            finally:
                journal.write(f"exit {self.label}")

        return wrapper()


class First(Recording):
    label = "first"


class Second(Recording):
    label = "second"


async def background_work() -> str:
    journal.write("coroutine started")
    await asyncio.to_thread(release.wait, WAIT)
    journal.write(f"coroutine finished, variable={request_variable.get('unset')}")
    logging.getLogger("tests.background").info("background work done")
    finished.set()
    return "done"


class StartBackgroundWork(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        journal.write("action")
        request_variable.set(request.body["tag"])
        request.run_coroutine(background_work())
        return {"started": True}


async def add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


class Add(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        future = request.run_coroutine(add(request.body["a"], request.body["b"]))
        assert isinstance(future, Future)
        return {"sum": future.result(WAIT)}


class WorkerServer(Server):
    service_name = "worker"
    action_class_map = {"start": StartBackgroundWork, "add": Add}


MIDDLEWARE_SETTINGS = {
    "coroutine_middleware": [
        {"path": "servicewire.server.coroutine:DefaultCoroutineMiddleware"},
        {"path": f"{__name__}:First"},
        {"path": f"{__name__}:Second"},
    ]
}


def test_run_coroutine_returns_a_concurrent_future_of_the_coroutines_result() -> None:
    with serving(WorkerServer) as client:
        assert client.call_action("worker", "add", {"a": 2, "b": 3}).body == {"sum": 5}


def test_a_coroutine_started_by_an_action_finishes_after_the_response_through_the_middleware() -> (
    None
):
    with serving(WorkerServer, MIDDLEWARE_SETTINGS) as client:
        response = client.call_action("worker", "start", {"tag": "job-1"})
        journal.write("response received")
        assert response.body == {"started": True}
        assert not finished.is_set()
        release.set()
        assert finished.wait(WAIT)

    calling = [entry for entry in journal.entries if journal.threads[entry] == "MainThread"]
    on_loop = [entry for entry in journal.entries if journal.threads[entry] == "worker-event-loop"]
    # In the action's thread: before_run_coroutine in configured order, then the wrapping
    # in reverse, so that the first middleware ends up outermost.
    assert calling == [
        "action",
        "before first",
        "before second",
        "wrap second",
        "wrap first",
        "response received",
    ]
    assert on_loop == [
        "enter first",
        "enter second",
        "coroutine started",
        "coroutine finished, variable=job-1",
        "exit second",
        "exit first",
    ]
    assert journal.entries.index("response received") < journal.entries.index(
        "coroutine finished, variable=job-1"
    )


def test_records_logged_by_a_coroutine_after_the_response_carry_the_jobs_context() -> None:
    with collecting_logs() as logs, serving(WorkerServer) as client:
        client.call_action("worker", "start", {"tag": "x"}, correlation_id="corr-42")
        release.set()
        assert finished.wait(WAIT)
    [record] = [record for record in logs.records if record.name == "tests.background"]
    assert record.correlation_id == "corr-42"  # type: ignore[attr-defined]
    assert record.action_name == "start"  # type: ignore[attr-defined]
    assert record.service_name == "worker"  # type: ignore[attr-defined]
    assert record.threadName == "worker-event-loop"


def started_loop(*middleware: CoroutineMiddleware, timeout: float = 10.0) -> AsyncEventLoopThread:
    loop = AsyncEventLoopThread(middleware, shutdown_timeout=timeout)
    loop.start()
    return loop


def test_the_default_middleware_runs_the_coroutine_in_the_scheduling_jobs_log_context() -> None:
    async def observe() -> tuple[str, str, str | None]:
        record = logging.LogRecord("x", logging.INFO, "", 0, "", None, None)
        LogContextFilter().filter(record)
        task = asyncio.current_task()
        return (
            record.correlation_id,  # type: ignore[attr-defined]
            record.action_name,  # type: ignore[attr-defined]
            task.get_name() if task else None,
        )

    with log_context(service_name="svc", correlation_id="corr-7", request_id=12, action_name="act"):
        wrapped = DefaultCoroutineMiddleware().coroutine(observe())
    # Run elsewhere, by other means, in a context that knows nothing of the job.
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(asyncio.run(wrapped)))
    runner.start()
    runner.join(WAIT)
    [(correlation_id, action_name, task_name)] = results
    assert (correlation_id, action_name) == ("corr-7", "act")
    assert task_name.startswith("svc.act ")
    assert task_name.endswith(".observe (correlation_id=corr-7, request_id=12)")


def test_the_default_middleware_leaves_a_coroutine_scheduled_outside_a_job_alone() -> None:
    coroutine = add(1, 2)
    assert DefaultCoroutineMiddleware().coroutine(coroutine) is coroutine
    coroutine.close()


def test_context_variables_set_before_scheduling_are_seen_by_the_coroutine() -> None:
    loop = started_loop()
    variable: contextvars.ContextVar[int] = contextvars.ContextVar("variable")

    async def read() -> int:
        return variable.get()

    try:
        variable.set(41)
        first = loop.run_coroutine(read())
        variable.set(42)
        second = loop.run_coroutine(read())
        assert (first.result(WAIT), second.result(WAIT)) == (41, 42)
    finally:
        loop.stop()


def test_an_exception_nobody_retrieved_is_logged_when_the_future_is_dropped() -> None:
    loop = started_loop()
    failed = threading.Event()

    async def fail() -> None:
        try:
            raise ValueError("lost in the background")
        finally:
            failed.set()

    try:
        with collecting_logs() as logs:
            with log_context(correlation_id="corr-lost"):
                future = loop.run_coroutine(fail())
            assert failed.wait(WAIT)
            _wait_done(future)
            del future
            gc.collect()
    finally:
        loop.stop()
    [record] = [record for record in logs.records if record.name == "servicewire.server.coroutine"]
    assert "nobody retrieved" in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "lost in the background"
    assert record.correlation_id == "corr-lost"  # type: ignore[attr-defined]


def _wait_done(future: CoroutineFuture[Any]) -> None:
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    assert done.wait(WAIT)


def test_an_exception_the_caller_retrieved_is_not_logged_again() -> None:
    loop = started_loop()

    async def fail() -> None:
        raise ValueError("seen")

    try:
        with collecting_logs() as logs:
            future = loop.run_coroutine(fail())
            with pytest.raises(ValueError, match="seen"):
                future.result(WAIT)
            del future
            gc.collect()
    finally:
        loop.stop()
    assert not [record for record in logs.records if record.name == "servicewire.server.coroutine"]


def test_cancelling_the_future_cancels_the_coroutine() -> None:
    loop = started_loop()
    stuck = Stuck()
    try:
        future = loop.run_coroutine(stuck.wait())
        assert stuck.started.wait(WAIT)
        assert future.cancel()
        assert stuck.cancelled.wait(WAIT)
        assert future.cancelled()
    finally:
        loop.stop()


def test_run_coroutine_outside_setup_and_teardown_is_refused_and_closes_the_coroutine() -> None:
    loop = AsyncEventLoopThread()
    coroutine = add(1, 2)
    with pytest.raises(RuntimeError, match=r"setup\(\) starts it"):
        loop.run_coroutine(coroutine)
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED

    loop.start()
    loop.stop()
    coroutine = add(1, 2)
    with pytest.raises(RuntimeError, match="not running"):
        loop.run_coroutine(coroutine)
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED


def test_the_loop_thread_starts_with_the_first_coroutine_and_ends_with_teardown() -> None:
    with serving(WorkerServer) as client:
        event_loop = local_server(client, "worker").event_loop_thread
        assert event_loop.accepting
        assert event_loop.thread is None
        client.call_action("worker", "add", {"a": 1, "b": 1})
        thread = event_loop.thread
        assert thread is not None
        assert thread.is_alive()
    assert not event_loop.accepting
    assert not thread.is_alive()


class ObservedLoop(AsyncEventLoopThread):
    """Says when shutdown has begun waiting for the coroutines still running."""

    def __init__(self) -> None:
        super().__init__()
        self.draining = threading.Event()

    async def _drain(self, timeout: float) -> None:
        self.draining.set()
        await super()._drain(timeout)


def test_teardown_waits_for_running_coroutines_to_finish() -> None:
    loop = ObservedLoop()
    loop.start()
    outcome: list[str] = []

    async def slow() -> None:
        try:
            # Finishes only once shutdown has begun: stop() must wait for it.
            await asyncio.to_thread(loop.draining.wait, WAIT)
            outcome.append("finished")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    future = loop.run_coroutine(slow())
    loop.stop()
    assert outcome == ["finished"]
    assert future.result() is None
    assert loop.thread is None


def test_teardown_cancels_coroutines_still_running_after_the_timeout() -> None:
    loop = started_loop(timeout=0)
    stuck = Stuck()
    with collecting_logs() as logs:
        future = loop.run_coroutine(stuck.wait())
        assert stuck.started.wait(WAIT)
        loop.stop()
    assert stuck.cleaned_up.is_set()
    assert future.cancelled()
    assert any("Cancelling 1 coroutine" in record.getMessage() for record in logs.records)


def test_coroutine_middleware_is_built_from_the_settings() -> None:
    with serving(WorkerServer, MIDDLEWARE_SETTINGS) as client:
        middleware = local_server(client, "worker").coroutine_middleware
    assert [type(item) for item in middleware] == [DefaultCoroutineMiddleware, First, Second]


def test_by_default_only_the_default_coroutine_middleware_is_configured() -> None:
    with serving(WorkerServer) as client:
        middleware = local_server(client, "worker").coroutine_middleware
    assert [type(item) for item in middleware] == [DefaultCoroutineMiddleware]


def test_coroutine_middleware_refuses_settings_it_does_not_take() -> None:
    with pytest.raises(TypeError, match="takes no settings"):
        DefaultCoroutineMiddleware(unexpected=1)
