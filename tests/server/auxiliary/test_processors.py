"""Auxiliary processors: inline, in a bounded thread pool under each policy when full,
their life cycle, and a processor of one's own."""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

import pytest

from servicewire import Server
from servicewire.server.auxiliary import (
    AuxiliaryCall,
    AuxProcessor,
    ThreadAuxProcessor,
    auxiliary_processors,
)
from tests.server.auxiliary.services import CreateUser, Probe, SendWelcomeEmail
from tests.support.local import local_server, serving
from tests.support.processes import wait_until


class HoldingServer(Server):
    """One auxiliary action, which holds when asked to."""

    service_name = "users"
    action_class_map = {"create_user": CreateUser}
    auxiliary_action_map = {"create_user": [SendWelcomeEmail]}


JOB = {
    "control": {"continue_on_error": False},
    "context": {"correlation_id": "c", "switches": []},
    "actions": [{"action": "create_user", "body": {"name": "ada"}}],
}


def threads(when_full: str = "block", pool_size: int = 1, backlog: int = 0) -> dict[str, Any]:
    return {
        "default": {
            "path": "servicewire.server.auxiliary:ThreadAuxProcessor",
            "kwargs": {"pool_size": pool_size, "backlog": backlog, "when_full": when_full},
        }
    }


def pool_of(client: Any) -> ThreadAuxProcessor:
    processor = auxiliary_processors(local_server(client, "users"))["default"]
    assert isinstance(processor, ThreadAuxProcessor)
    return processor


def create(client: Any, name: str, hold: bool = False) -> None:
    client.call_action("users", "create_user", {"name": name, "hold": hold})


def test_sync_processor_runs_in_the_servers_thread(probe: Probe) -> None:
    with serving(HoldingServer, {"transport": None}) as client:
        create(client, "ada")

    assert [run.thread for run in probe.runs] == [threading.get_ident()]


def test_thread_processor_runs_in_its_own_threads(probe: Probe) -> None:
    with serving(HoldingServer, {"transport": None, "auxiliary_processors": threads()}) as client:
        create(client, "ada")
        wait_until(probe.finished.is_set, "the auxiliary action", 10)
        assert [run.thread for run in probe.runs] != [threading.get_ident()]
        assert pool_of(client).statistics().completed == 1


def test_full_pool_that_drops_logs_counts_and_skips_the_call(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(
        HoldingServer, {"transport": None, "auxiliary_processors": threads("drop")}
    ) as client:
        create(client, "ada", hold=True)
        assert probe.started.wait(10)
        with caplog.at_level(logging.WARNING, "servicewire.server.auxiliary"):
            create(client, "bob")
        statistics = pool_of(client).statistics()
        probe.release.set()

    assert (statistics.running, statistics.dropped) == (1, 1)
    assert [run.body["name"] for run in probe.runs] == ["ada"]
    assert "Dropped <AuxiliaryCall create_user:SendWelcomeEmail" in caplog.text
    assert "the thread pool is full (pool_size=1, backlog=0)" in caplog.text


def test_full_pool_that_runs_inline_runs_the_call_in_the_servers_thread(probe: Probe) -> None:
    with serving(
        HoldingServer, {"transport": None, "auxiliary_processors": threads("run_inline")}
    ) as client:
        create(client, "ada", hold=True)
        assert probe.started.wait(10)
        create(client, "bob")
        # bob's auxiliary action ran before the call returned, in this (the server's) thread.
        assert [run.body["name"] for run in probe.runs] == ["ada", "bob"]
        assert probe.runs[1].thread == threading.get_ident()
        assert probe.runs[0].thread != threading.get_ident()
        assert pool_of(client).statistics().ran_inline == 1
        probe.release.set()


def test_full_pool_that_blocks_holds_the_server_until_there_is_room(probe: Probe) -> None:
    with serving(
        HoldingServer, {"transport": None, "auxiliary_processors": threads("block")}
    ) as client:
        create(client, "ada", hold=True)
        assert probe.started.wait(10)
        pool = pool_of(client)
        returned = threading.Event()

        def second_call() -> None:
            create(client, "bob")
            returned.set()

        caller = threading.Thread(target=second_call)
        caller.start()
        wait_until(lambda: pool.statistics().blocked == 1, "the server to block", 10)
        assert not returned.is_set()
        assert [run.body["name"] for run in probe.runs] == ["ada"]

        probe.release.set()
        caller.join(10)
        assert returned.is_set()
        wait_until(lambda: pool.statistics().completed == 2, "both auxiliary actions", 10)
    assert [run.body["name"] for run in probe.runs] == ["ada", "bob"]


def test_shutdown_finishes_the_calls_the_pool_holds(probe: Probe) -> None:
    with serving(
        HoldingServer, {"transport": None, "auxiliary_processors": threads(backlog=5)}
    ) as client:
        server = local_server(client, "users")
        # The held call is released only once the teardown has begun.
        server.events.add_listener("server_stop", lambda event: probe.release.set())
        create(client, "ada", hold=True)
        assert probe.started.wait(10)
        create(client, "bob")
        create(client, "cy")
        pool = pool_of(client)
        assert (pool.statistics().running, pool.statistics().waiting) == (1, 2)

    assert pool.statistics().completed == 3
    assert [run.body["name"] for run in probe.runs] == ["ada", "bob", "cy"]


def test_shutdown_timeout_drops_the_calls_not_started_and_abandons_the_running_ones(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {
        "transport": None,
        "auxiliary_processors": threads(backlog=5),
        "auxiliary_shutdown_timeout": 0.2,
    }
    with (
        caplog.at_level(logging.WARNING, "servicewire.server.auxiliary"),
        serving(HoldingServer, settings) as client,
    ):
        create(client, "ada", hold=True)
        assert probe.started.wait(10)
        create(client, "bob")
        create(client, "cy")
        pool = pool_of(client)

    statistics = pool.statistics()
    assert (statistics.running, statistics.waiting, statistics.dropped) == (1, 0, 2)
    assert "not started within the shutdown timeout of 0.2 s" in caplog.text
    assert "1 auxiliary action(s) still running after the shutdown timeout" in caplog.text
    assert [run.body["name"] for run in probe.runs] == ["ada"]


class RecordingProcessor(AuxProcessor):
    """A processor of one's own: records what the server asks of it."""

    calls: ClassVar[list[tuple[str, Any]]] = []

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    def initialize(self, server: Server) -> None:
        super().initialize(server)
        RecordingProcessor.calls.append(("initialize", server))

    def process(self, call: AuxiliaryCall) -> None:
        RecordingProcessor.calls.append(("process", call.name))
        if self.fail:
            raise RuntimeError("no room at the inn")
        call.run()

    def shutdown(self, timeout: float) -> None:
        RecordingProcessor.calls.append(("shutdown", timeout))


RECORDING = {"default": {"path": "tests.server.auxiliary.test_processors:RecordingProcessor"}}


def test_processor_is_initialized_once_in_setup_and_shut_down_in_teardown(probe: Probe) -> None:
    RecordingProcessor.calls = []
    settings = {"transport": None, "auxiliary_processors": RECORDING}
    with serving(HoldingServer, settings) as client:
        create(client, "ada")
        server = local_server(client, "users")
        create(client, "bob")

    assert RecordingProcessor.calls[:3] == [
        ("initialize", server),
        ("process", "create_user:SendWelcomeEmail"),
        ("process", "create_user:SendWelcomeEmail"),
    ]
    ((kind, timeout),) = RecordingProcessor.calls[3:]
    assert kind == "shutdown"
    assert 0 < timeout <= 10
    assert len(probe.runs) == 2


def test_processor_initialized_at_the_first_request_if_setup_never_ran(probe: Probe) -> None:
    RecordingProcessor.calls = []
    server = HoldingServer(
        {
            "transport": {"path": "tests.support.transports:QueueServerTransport"},
            "auxiliary_processors": RECORDING,
        }
    )
    server.transport.add_request(1, JOB)  # type: ignore[union-attr]

    server.handle_next_request()

    assert [kind for kind, _ in RecordingProcessor.calls] == ["initialize", "process"]


def test_processor_that_raises_loses_the_call_but_not_the_response(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    processors = {"default": {**RECORDING["default"], "kwargs": {"fail": True}}}
    with (
        caplog.at_level(logging.ERROR, "servicewire.server.auxiliary"),
        serving(HoldingServer, {"transport": None, "auxiliary_processors": processors}) as client,
    ):
        response = client.call_action("users", "create_user", {"name": "ada"})

    assert response.body == {"id": 42, "name": "ada"}
    assert probe.runs == []
    assert "could not take <AuxiliaryCall create_user:SendWelcomeEmail" in caplog.text
    assert "no room at the inn" in caplog.text


class Threaded(SendWelcomeEmail):
    auxiliary_processor = "threads"


class MixedServer(Server):
    service_name = "users"
    action_class_map = {"create_user": CreateUser}
    auxiliary_action_map = {"create_user": [SendWelcomeEmail, Threaded]}


def test_each_auxiliary_action_runs_on_the_processor_it_names(probe: Probe) -> None:
    processors = {"threads": threads()["default"]}
    with serving(MixedServer, {"transport": None, "auxiliary_processors": processors}) as client:
        create(client, "ada")
        wait_until(lambda: len(probe.runs) == 2, "both auxiliary actions", 10)

    threads_by_action = {run.action: run.thread for run in probe.runs}
    assert threads_by_action["create_user:SendWelcomeEmail"] == threading.get_ident()
    assert threads_by_action["create_user:Threaded"] != threading.get_ident()


def test_auxiliary_action_of_a_job_after_shutdown_runs_inline(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    server = HoldingServer(
        {
            "transport": {"path": "tests.support.transports:QueueServerTransport"},
            "auxiliary_processors": threads(),
        }
    )
    server.setup()
    server.teardown()
    server.transport.add_request(1, JOB)  # type: ignore[union-attr]

    with caplog.at_level(logging.WARNING, "servicewire.server.auxiliary"):
        server.handle_next_request()

    # The pool's threads are gone: rather than queue it for nobody, the server runs it.
    assert [run.thread for run in probe.runs] == [threading.get_ident()]
    assert "arrived after shutdown; running it inline" in caplog.text
