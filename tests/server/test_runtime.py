"""The server process runtime, with real processes over a real redis-server: signals,
graceful shutdown, harakiri, --fork and respawning, the heartbeat file, --daemon, logging."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servicewire import (
    ERROR_CODE_ACTION_TIMEOUT,
    ERROR_CODE_JOB_TIMEOUT,
    Client,
    HarakiriInterrupt,
    JobResponse,
    Server,
)
from servicewire.server.runtime import ProcessRuntime
from tests.support.processes import ServiceProcess, wait_until, write_settings

SERVER = "tests.server.runtime_service:RuntimeServer"
DEADLINE = 15.0


class RuntimeProcess(ServiceProcess):
    """The runtime test service as a process; markers (see ``runtime_service``) record what
    it ran."""

    def __init__(
        self, folder: Path, settings_module: str, *options: str, launcher: str = "cli", **env: str
    ) -> None:
        self.markers = folder / "markers"
        self.markers.mkdir(exist_ok=True)
        env = {"SW_TEST_MARKERS": str(self.markers), **env}
        super().__init__(folder, SERVER, settings_module, *options, launcher=launcher, env=env)

    def marker_lines(self, name: str) -> list[str]:
        path = self.markers / name
        return path.read_text().split() if path.exists() else []


@pytest.fixture
def start(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., RuntimeProcess]]:
    """``start(settings, *options, launcher=..., **env)`` writes a settings module (the Redis
    transport is added) and starts the service."""
    processes: list[RuntimeProcess] = []
    names = iter(range(1000))

    def launch(
        settings: dict[str, Any] | None = None,
        *options: str,
        receive_timeout: float = 0.2,
        launcher: str = "cli",
        **env: str,
    ) -> RuntimeProcess:
        module = f"settings_{next(names)}"
        full = {
            "transport": {
                "path": "servicewire.transport.redis:RedisServerTransport",
                "kwargs": {
                    "backend_layer_kwargs": {"hosts": [redis_url]},
                    "receive_timeout_in_seconds": receive_timeout,
                },
            },
            **(settings or {}),
        }
        write_settings(tmp_path, module, full)
        process = RuntimeProcess(tmp_path, module, *options, launcher=launcher, **env)
        processes.append(process)
        return process

    yield launch
    for process in processes:
        process.kill()


@pytest.fixture
def client(redis_url: str) -> Client:
    transport = {
        "path": "servicewire.transport.redis:RedisClientTransport",
        "kwargs": {"backend_layer_kwargs": {"hosts": [redis_url]}},
    }
    return Client({"runtime": {"transport": transport}})


def whoami(client: Client, echo: object = None) -> dict[str, Any]:
    return client.call_action("runtime", "whoami", {"echo": echo}, timeout=DEADLINE).body


# --- one process ----------------------------------------------------------------------------


@pytest.mark.parametrize("launcher", ["cli", "main"])
def test_serves_then_stops_on_sigterm_removing_its_heartbeat(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path, launcher: str
) -> None:
    heartbeat = tmp_path / "heartbeat-{{pid}}"
    service = start({"heartbeat_file": str(heartbeat)}, launcher=launcher)
    path = tmp_path / f"heartbeat-{service.process.pid}"
    wait_until(path.exists, "the heartbeat file")
    assert float(path.read_text()) == pytest.approx(time.time(), abs=10)
    assert whoami(client, "hi") == {"pid": service.process.pid, "echo": "hi"}
    service.send(signal.SIGTERM)
    assert service.wait() == 0
    assert not path.exists()
    assert "Received SIGTERM" in service.log


def test_heartbeat_is_refreshed_while_idle(
    start: Callable[..., RuntimeProcess], tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    service = start({"heartbeat_file": str(heartbeat)})
    first = float(wait_until(lambda: heartbeat.exists() and heartbeat.read_text(), "heartbeat"))
    wait_until(lambda: float(heartbeat.read_text() or 0) > first, "a refreshed heartbeat")
    service.send(signal.SIGINT)
    assert service.wait() == 0


def test_graceful_shutdown_finishes_the_current_job(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    service = start()
    entered = tmp_path / "entered"
    future = client.call_action_future(
        "runtime", "sleep", {"seconds": 1, "entered": str(entered)}, timeout=DEADLINE
    )
    wait_until(entered.exists, "the job to start")
    service.send(signal.SIGTERM)
    assert future.result().body == {"slept": 1, "pid": service.process.pid}
    assert service.wait() == 0


def test_a_second_signal_forces_the_exit(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    service = start()
    entered = tmp_path / "entered"
    client.call_action_future("runtime", "sleep", {"seconds": 60, "entered": str(entered)})
    wait_until(entered.exists, "the job to start")
    started = time.monotonic()
    service.send(signal.SIGTERM)
    wait_until(lambda: "Received SIGTERM" in service.log, "the first signal to be handled")
    service.send(signal.SIGTERM)
    assert service.wait() == 1
    assert time.monotonic() - started < 10
    assert "second shutdown signal" in service.log


def test_logging_setting_is_applied(start: Callable[..., RuntimeProcess], tmp_path: Path) -> None:
    log_file = tmp_path / "service.log"
    logging_config = {
        "version": 1,
        "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(log_file),
                "formatter": "plain",
            }
        },
        "root": {"handlers": ["file"], "level": "INFO"},
    }
    service = start({"logging": logging_config})
    wait_until(
        lambda: log_file.exists() and "Service 'runtime' serving" in log_file.read_text(),
        "the start-up line in the configured log file",
    )
    service.send(signal.SIGTERM)
    assert service.wait() == 0
    assert "INFO servicewire.server.runtime Service 'runtime' stopped" in log_file.read_text()


def test_daemon_detaches_and_prints_its_pid(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    service = start({"heartbeat_file": str(tmp_path / "daemon-{{pid}}")}, "--daemon")
    assert service.wait() == 0
    # The launched process printed the daemon's pid before exiting.
    pid = int(service.log.partition("PID=")[2].split()[0])
    heartbeat = tmp_path / f"daemon-{pid}"
    try:
        wait_until(heartbeat.exists, "the daemon's heartbeat")
        assert whoami(client)["pid"] == pid
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not heartbeat.exists(), "the daemon to stop")


# --- harakiri -------------------------------------------------------------------------------


def test_harakiri_answers_action_timeout_and_the_worker_is_respawned(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    settings = {
        "harakiri": {"timeout": 1, "shutdown_grace": 5},
        "heartbeat_file": str(tmp_path / "worker-{{fid}}"),
    }
    service = start(settings, "--fork", "1")
    first_pid = whoami(client)["pid"]
    response = client.call_actions(
        "runtime",
        [{"action": "sleep", "body": {"seconds": 30, "entered": str(tmp_path / "entered")}}],
        raise_action_errors=False,
        timeout=DEADLINE,
    )
    assert isinstance(response, JobResponse)
    [error] = response.actions[0].errors
    assert error.code == ERROR_CODE_ACTION_TIMEOUT
    second_pid = wait_until(lambda: whoami(client)["pid"], "a respawned worker")
    assert second_pid != first_pid
    assert "Harakiri" in service.log
    assert "respawning it" in service.log
    service.send(signal.SIGTERM)
    assert service.wait() == 0


def test_harakiri_never_fires_while_the_server_waits_for_work(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    service = start(
        {"harakiri": {"timeout": 1, "shutdown_grace": 1}, "heartbeat_file": str(heartbeat)},
        receive_timeout=1.5,
    )
    pid = whoami(client)["pid"]
    first = float(wait_until(lambda: heartbeat.exists() and heartbeat.read_text(), "heartbeat"))
    # Idle waits longer than the harakiri timeout go by.
    wait_until(lambda: float(heartbeat.read_text() or 0) > first + 1.4, "idle cycles")
    assert service.process.poll() is None
    assert whoami(client)["pid"] == pid
    assert "Harakiri" not in service.log
    service.send(signal.SIGTERM)
    assert service.wait() == 0


def test_a_job_that_swallows_the_interrupt_is_ended_after_the_grace_period(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    service = start({"harakiri": {"timeout": 1, "shutdown_grace": 1}})
    entered = tmp_path / "entered"
    client.call_action_future("runtime", "stubborn", {"entered": str(entered)})
    wait_until(entered.exists, "the job to start")
    assert service.wait() == 1
    assert "did not exit within 1 s after harakiri" in service.log


# --- several workers ------------------------------------------------------------------------


def test_fork_runs_workers_numbered_one_to_n_after_one_pre_fork(
    start: Callable[..., RuntimeProcess], tmp_path: Path
) -> None:
    service = start({"heartbeat_file": str(tmp_path / "worker-{{fid}}.beat")}, "--fork", "3")
    beats = [tmp_path / f"worker-{number}.beat" for number in (1, 2, 3)]
    wait_until(lambda: all(path.exists() for path in beats), "three worker heartbeats")
    assert len(service.marker_lines("pre_fork")) == 1
    assert service.marker_lines("pre_fork") == [str(service.process.pid)]
    assert len(set(service.marker_lines("initialize"))) == 3
    service.send(signal.SIGTERM)
    assert service.wait() == 0
    assert not any(path.exists() for path in beats)


def test_a_crashing_worker_is_given_up_after_three_crashes_in_fifteen_seconds(
    start: Callable[..., RuntimeProcess],
) -> None:
    service = start(None, "--fork", "1", SW_TEST_CRASH_SETUP="1")
    assert service.wait() == 1
    assert len(service.marker_lines("setup")) == 3
    assert "exited 3 times in 15 s" in service.log


def test_no_respawn_leaves_a_crashed_worker_dead(start: Callable[..., RuntimeProcess]) -> None:
    service = start(None, "--fork", "2", "--no-respawn", SW_TEST_CRASH_SETUP="1")
    assert service.wait() == 1
    assert len(service.marker_lines("setup")) == 2
    assert "not respawning it" in service.log


def test_a_worker_told_to_stop_while_it_starts_exits_cleanly(
    start: Callable[..., RuntimeProcess], tmp_path: Path
) -> None:
    release = tmp_path / "release"
    service = start(None, "--fork", "1", SW_TEST_HOLD_INITIALIZE=str(release))
    wait_until(lambda: service.marker_lines("initialize"), "the worker to be starting")
    service.send(signal.SIGTERM)
    assert service.wait() == 0, service.log
    assert "Worker 1 exited (status 0)" in service.log
    assert not release.exists()


def test_workers_stop_when_their_supervisor_is_killed(
    start: Callable[..., RuntimeProcess], tmp_path: Path
) -> None:
    beat = tmp_path / "orphan-{{fid}}"
    service = start({"heartbeat_file": str(beat)}, "--fork", "1")
    path = tmp_path / "orphan-1"
    wait_until(path.exists, "the worker's heartbeat")
    service.process.kill()
    service.process.wait(5)
    wait_until(lambda: not path.exists(), "the orphaned worker to stop")


def test_sigint_to_the_whole_group_is_one_graceful_shutdown(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    service = start(
        {"heartbeat_file": str(tmp_path / "group-{{fid}}")},
        "--fork",
        "2",
    )
    wait_until((tmp_path / "group-2").exists, "both workers")
    entered = tmp_path / "entered"
    future = client.call_action_future(
        "runtime", "sleep", {"seconds": 1, "entered": str(entered)}, timeout=DEADLINE
    )
    wait_until(entered.exists, "the job to start")
    workers = [int(pid) for pid in service.marker_lines("setup")]
    # A terminal's Ctrl+C: SIGINT to the supervisor and to every worker at once.
    for pid in [service.process.pid, *workers]:
        os.kill(pid, signal.SIGINT)
    assert future.result().body["slept"] == 1
    assert service.wait() == 0


# --- worker threads -------------------------------------------------------------------------


def test_fork_with_workers_runs_processes_times_threads_jobs_at_once(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    service = start({"workers": 2}, "--fork", "2")
    release = tmp_path / "release"
    entered = [tmp_path / f"entered-{n}" for n in range(4)]
    future = client.call_actions_parallel_future(
        "runtime",
        [
            {"action": "hold", "body": {"entered": str(path), "release": str(release)}}
            for path in entered
        ],
        timeout=DEADLINE,
    )
    wait_until(lambda: all(path.exists() for path in entered), "four jobs running at once")
    pids = sorted(path.read_text() for path in entered)
    release.touch()
    responses = list(future.result())

    assert len(set(pids)) == 2
    assert pids.count(pids[0]) == 2
    assert sorted(str(response.body["pid"]) for response in responses) == pids
    service.send(signal.SIGTERM)
    assert service.wait() == 0


def test_with_workers_a_stuck_job_is_answered_job_timeout_and_the_worker_respawned(
    start: Callable[..., RuntimeProcess], client: Client, tmp_path: Path
) -> None:
    service = start({"workers": 2, "harakiri": {"timeout": 1, "shutdown_grace": 3}}, "--fork", "1")
    first_pid = whoami(client)["pid"]
    response = client.call_actions(
        "runtime",
        [{"action": "sleep", "body": {"seconds": 30, "entered": str(tmp_path / "entered")}}],
        raise_job_errors=False,
        timeout=DEADLINE,
    )

    assert [error.code for error in response.errors] == [ERROR_CODE_JOB_TIMEOUT]
    second_pid = wait_until(lambda: whoami(client)["pid"], "a respawned worker")
    assert second_pid != first_pid
    assert "Harakiri: request" in service.log
    assert "did not exit within 3 s after harakiri" in service.log
    assert "respawning it" in service.log
    service.send(signal.SIGTERM)
    assert service.wait() == 0


# --- the harakiri timer, in this process ------------------------------------------------------


class _Idle(Server):
    service_name = "idle"


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProcessRuntime]:
    """A runtime with a 2 s harakiri whose forced exit is only recorded; the real timer is
    cancelled after the test."""
    runtime = ProcessRuntime(_Idle({"transport": None, "harakiri": {"timeout": 2}}))
    exits: list[bool] = []
    monkeypatch.setattr(runtime, "start_exit_timer", lambda: exits.append(True))
    # Should the machine stall past the timer, its signal must not end the test process.
    previous = signal.signal(signal.SIGALRM, lambda number, frame: None)
    try:
        yield runtime
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_timer_is_armed_once_not_reset_for_each_job(runtime: ProcessRuntime) -> None:
    runtime.job_started()
    first = signal.getitimer(signal.ITIMER_REAL)[0]
    runtime.job_finished()
    runtime.job_started()
    runtime.job_finished()
    assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= first <= 2


def test_a_timer_firing_while_idle_does_nothing(runtime: ProcessRuntime) -> None:
    runtime.job_started()
    runtime.job_finished()
    runtime.harakiri(signal.SIGALRM)
    assert not runtime.harakiri_triggered
    runtime.job_started()  # the next job arms the timer again
    assert signal.getitimer(signal.ITIMER_REAL)[0] > 0


def test_a_timer_firing_during_a_later_job_waits_for_the_rest_of_its_time(
    runtime: ProcessRuntime,
) -> None:
    runtime.job_started()
    runtime.job_started_at -= 0.5  # this job has run for half a second
    runtime.harakiri(signal.SIGALRM)
    assert not runtime.harakiri_triggered
    assert 1.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 1.5


def test_a_job_past_the_timeout_is_interrupted(runtime: ProcessRuntime) -> None:
    runtime.job_started()
    runtime.job_started_at -= 2.5
    with pytest.raises(HarakiriInterrupt):
        runtime.harakiri(signal.SIGALRM)
    assert runtime.harakiri_triggered
    assert runtime.server.shutting_down
