"""Worker threads: one server process running several jobs at once, over a real Redis."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from servicewire import (
    ERROR_CODE_ACTION_TIMEOUT,
    ERROR_CODE_JOB_TIMEOUT,
    ImproperlyConfigured,
)
from servicewire.errors import ConnectionError as TransportConnectionError
from servicewire.logging import LogContextFilter
from servicewire.server.runtime import ProcessRuntime
from tests.server import concurrency_services
from tests.server.concurrency_services import (
    DEADLINE,
    Block,
    ConcurrencyServer,
    Probe,
    Spin,
    call,
    running,
)
from tests.support.transports import QueueServerTransport
from tests.support.waiting import wait_until


def test_eight_slow_calls_on_four_workers_finish_in_two_rounds_of_four(
    redis_url: str, probe: Probe
) -> None:
    with running(redis_url, workers=4) as service:
        responses = service.send([call("latched", {"tag": tag}) for tag in range(8)])

        probe.wait_entered(4)
        assert probe.running == 4
        wait_until(lambda: service.queued() == 4, "the other four to stay queued")
        probe.allow(4)
        probe.wait_entered(8)
        assert probe.running == 4
        probe.allow(4)
        results = responses()

    assert [response.actions[0].body["tag"] for response in results] == list(range(8))
    assert probe.most == 4
    assert len({response.actions[0].body["thread"] for response in results}) == 4


def test_the_server_takes_no_request_while_every_worker_is_busy(
    redis_url: str, probe: Probe
) -> None:
    with running(redis_url, workers=2) as service:
        responses = service.send([call("latched", {"tag": tag}) for tag in range(3)])
        probe.wait_entered(2)
        pool = service.server.worker_pool
        assert pool is not None
        wait_until(lambda: pool.statistics().waiting_for_worker, "the server to wait")

        assert service.queued() == 1
        assert pool.statistics().busy == 2
        probe.allow(3)
        assert all(not response.actions[0].errors for response in responses())

    statistics = pool.statistics()
    assert statistics.most_busy == 2
    assert statistics.jobs_started == statistics.jobs_finished == 3
    assert probe.most == 2


class RecordingTeardown(ConcurrencyServer):
    """Records, at teardown, what was still running."""

    running_at_teardown: list[int] = []

    def teardown(self) -> None:
        RecordingTeardown.running_at_teardown.append(concurrency_services.probe.running)
        super().teardown()


def test_graceful_shutdown_answers_the_jobs_taken_and_takes_no_more(
    redis_url: str, probe: Probe
) -> None:
    RecordingTeardown.running_at_teardown = []
    with running(redis_url, RecordingTeardown, workers=2) as service:
        responses = service.send([call("latched", {"tag": tag}) for tag in range(2)])
        service.client.send_request("concurrency", [{"action": "echo", "body": {}}])
        probe.wait_entered(2)
        service.server.shutting_down = True
        probe.allow(2)
        first, second = responses()
        left_queued = service.queued()

    assert [first.actions[0].body["tag"], second.actions[0].body["tag"]] == [0, 1]
    assert left_queued == 1
    assert RecordingTeardown.running_at_teardown == [0]
    assert sorted(probe.finished) == [0, 1]


def test_each_worker_logs_with_the_context_of_its_own_job(
    redis_url: str, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    context_filter = LogContextFilter()
    caplog.handler.addFilter(context_filter)
    try:
        with (
            caplog.at_level(logging.INFO, "tests.concurrency"),
            running(redis_url, workers=4) as service,
        ):
            expected = {
                f"finishing {tag}": service.client.send_request(
                    "concurrency", [{"action": "latched", "body": {"tag": tag}}]
                )
                for tag in range(4)
            }
            probe.wait_entered(4)
            probe.allow(4)
            responses = dict(
                service.client.get_all_responses("concurrency", receive_timeout_in_seconds=5)
            )
    finally:
        caplog.handler.removeFilter(context_filter)

    assert sorted(responses) == sorted(expected.values())
    logged = {
        record.getMessage(): record.request_id  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "tests.concurrency"
    }
    assert logged == expected


def test_a_transport_that_cannot_serve_concurrently_is_refused_when_serving_starts() -> None:
    class PlainTransport(QueueServerTransport):
        def enable_concurrent_requests(self, workers: int) -> None:
            super(QueueServerTransport, self).enable_concurrent_requests(workers)

    server = ConcurrencyServer({"transport": {"path": PlainTransport}, "workers": 3})

    with pytest.raises(ImproperlyConfigured, match="PlainTransport does not support concurrent"):
        server.run()
    assert server.worker_pool is None


def test_a_failure_outside_the_job_is_logged_and_the_workers_serve_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = ConcurrencyServer({"transport": {"path": QueueServerTransport}, "workers": 2})
    transport = server.transport
    assert isinstance(transport, QueueServerTransport)
    transport.send_failures.append(TransportConnectionError("Redis went away"))
    for request_id in (1, 2):
        transport.add_request(request_id, _job("echo", {"n": request_id}))

    thread = threading.Thread(target=server.run)
    thread.start()
    wait_until(lambda: sorted(transport.completed) == [1, 2], "both requests")
    server.shutting_down = True
    thread.join(DEADLINE)

    assert len(transport.sent) == 1
    assert "Error while handling a request; serving on" in caplog.text


# --- harakiri ---------------------------------------------------------------------------------


class WatchedRuntime(ProcessRuntime):
    """A process runtime whose forced exit is only recorded (the test process lives on)."""

    exit_timers = 0

    def start_exit_timer(self) -> None:
        self.exit_timers += 1


@pytest.fixture
def watched(redis_url: str, probe: Probe) -> Iterator[Any]:
    """The service with worker threads under a process runtime, its harakiri timeout a
    minute: tests make a job overdue by moving its start back (see :func:`overdue`)."""

    class Watched(ConcurrencyServer):
        def setup(self) -> None:
            self.serving.runtime = WatchedRuntime(self)
            super().setup()

    Block.release.clear()
    Spin.release.clear()
    with running(
        redis_url, Watched, workers=2, harakiri={"timeout": 60, "shutdown_grace": 30}
    ) as service:
        yield service
    Block.release.set()
    Spin.release.set()


def overdue(service: Any, action: str) -> None:
    """Make the running job calling ``action`` an hour old, as the watchdog sees it."""
    pool = service.server.worker_pool
    [job] = [
        job
        for job in pool.running_jobs()
        if job.request.job is not None and job.request.job.actions[0].action == action
    ]
    job.started -= 3600


def test_harakiri_interrupts_a_job_past_its_timeout_and_the_others_finish(
    watched: Any, probe: Probe
) -> None:
    stuck = watched.send([call("spin")])
    healthy = watched.send([call("latched", {"tag": "healthy"})])
    probe.wait_entered(2)

    overdue(watched, "spin")
    [response] = stuck()

    [error] = response.actions[0].errors
    assert error.code == ERROR_CODE_ACTION_TIMEOUT
    server = watched.server
    runtime = server.serving.runtime
    assert server.shutting_down
    assert runtime.harakiri_triggered
    assert runtime.exit_timers == 1
    probe.allow(1)
    [finished] = healthy()
    assert finished.actions[0].body["tag"] == "healthy"


def test_a_job_no_interrupt_reaches_is_answered_job_timeout_and_its_late_answer_dropped(
    watched: Any, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    stuck = watched.send([call("block")])
    probe.wait_entered(1)

    overdue(watched, "block")
    [response] = stuck()

    assert [error.code for error in response.errors] == [ERROR_CODE_JOB_TIMEOUT]
    assert "ran for more than 60 s and was abandoned" in response.errors[0].message
    with caplog.at_level(logging.WARNING, "servicewire.server.workers"):
        Block.release.set()
        wait_until(lambda: "Dropped the late response" in caplog.text, "the late response")
    assert watched.server.serving.runtime.exit_timers == 1


def _job(action: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c", "switches": []},
        "actions": [{"action": action, "body": body}],
    }
