"""Faults over Redis with real processes: servers SIGKILLed mid-request under at-least-once
delivery, redis-server itself restarted mid-traffic, the reaper's owner killed.

Each test is bounded in requests and time; waits poll with a deadline. The figures they
print (lost, repeated, errors, outage) are those of ``docs/choosing-a-transport.md``.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from servicewire import Client
from servicewire.errors import TransportError
from tests.support.processes import ServiceProcess, write_settings
from tests.support.services import RedisServer, running_redis
from tests.support.waiting import wait_until
from tests.transport.redis.fault_services import runs
from tests.transport.redis.support import CLIENT_TRANSPORT, SERVER_TRANSPORT, layer

SERVER = "tests.transport.redis.fault_services:RecorderServer"
BASE = "servicewire:service.recorder"
HEARTBEAT_TIMEOUT = 0.6


class Servers:
    """Recorder servers in child processes sharing one settings module; those still
    running are stopped at the end."""

    def __init__(self, folder: Path, redis_url: str, **transport_kwargs: Any) -> None:
        self.folder = folder
        kwargs = layer(
            redis_url,
            receive_timeout_in_seconds=0.2,
            delivery_guarantee="at_least_once",
            heartbeat_timeout_in_seconds=HEARTBEAT_TIMEOUT,
            **transport_kwargs,
        )
        settings = {"transport": {"path": SERVER_TRANSPORT, "kwargs": kwargs}}
        self.module = write_settings(folder, "recorder_settings", settings)
        self.started: list[ServiceProcess] = []

    def start(self, *options: str) -> ServiceProcess:
        process = ServiceProcess(self.folder, SERVER, self.module, *options)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.kill()


@pytest.fixture
def servers(tmp_path: Path, redis_url: str) -> Iterator[Servers]:
    started = Servers(tmp_path, redis_url)
    try:
        yield started
    finally:
        started.stop_all()


def recorder_client(redis_url: str) -> Client:
    transport = {"path": CLIENT_TRANSPORT, "kwargs": layer(redis_url)}
    return Client({"recorder": {"transport": transport}})


def server_ids(client: redis.Redis) -> set[str]:
    return {member.decode() for member in client.smembers(f"{BASE}:servers")}


def id_of(process: ServiceProcess) -> str:
    return f"{socket.gethostname()}:{process.pid}:"


def worker_pids(client: redis.Redis) -> set[int]:
    """The process ids of the servers that registered (dead ones until reaped)."""
    return {int(server.split(":")[1]) for server in server_ids(client)}


def registered(client: redis.Redis, process: ServiceProcess) -> bool:
    return any(server.startswith(id_of(process)) for server in server_ids(client))


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _children(pid: int) -> set[int]:
    return {
        int(name)
        for name in os.listdir("/proc")
        if name.isdigit() and _parent_pid(int(name)) == pid
    }


class WorkerSlots:
    """The worker slots of ``--fork`` supervisors, followed through respawns: a new child of
    a supervisor takes the slot of its worker killed earliest and not yet replaced."""

    def __init__(self, supervisor_pids: list[int]) -> None:
        self.slot_of: dict[int, tuple[int, int]] = {}
        self.kills: Counter[tuple[int, int]] = Counter()
        self.vacant: dict[int, list[tuple[int, int]]] = {pid: [] for pid in supervisor_pids}
        for supervisor in supervisor_pids:
            for index, child in enumerate(sorted(_children(supervisor))):
                self.slot_of[child] = (supervisor, index)

    def killable(self, max_kills: int) -> set[int]:
        """The live workers whose slot was killed fewer than ``max_kills`` times."""
        alive: set[int] = set()
        for supervisor, vacant in self.vacant.items():
            for child in sorted(_children(supervisor)):
                if child not in self.slot_of and vacant:
                    self.slot_of[child] = vacant.pop(0)
                if child in self.slot_of:
                    alive.add(child)
        return {pid for pid in alive if self.kills[self.slot_of[pid]] < max_kills}

    def killed(self, pid: int) -> None:
        slot = self.slot_of[pid]
        self.kills[slot] += 1
        self.vacant[slot[0]].append(slot)


def test_servers_sigkilled_mid_request_lose_nothing_under_at_least_once(
    servers: Servers, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    count = 500
    # Two supervisors of two workers each: a killed worker is forked again at once.
    supervisors = [servers.start("--fork", "2"), servers.start("--fork", "2")]
    client = recorder_client(redis_url)
    wait_until(lambda: len(worker_pids(redis_client)) >= 4, "the workers to start")

    sent = {
        client.send_request(
            "recorder",
            [{"action": "record", "body": {"log": str(log), "n": n, "pause": 0.01}}],
            message_expiry_in_seconds=120,
        ): n
        for n in range(count)
    }
    killed: list[int] = []
    finished = threading.Event()
    # A supervisor gives up on a worker slot that dies 3 times in 15 s, so each slot (a
    # supervisor's worker and those forked in its place) is killed twice at the most.
    slots = WorkerSlots([supervisor.process.pid for supervisor in supervisors])

    def kill_workers() -> None:
        while len(killed) < 8 and not finished.wait(random.uniform(0.1, 0.25)):
            serving = worker_pids(redis_client) - set(killed)
            victims = sorted(pid for pid in slots.killable(max_kills=2) if pid in serving)
            if victims:
                victim = random.choice(victims)
                os.kill(victim, signal.SIGKILL)
                slots.killed(victim)
                killed.append(victim)

    killer = threading.Thread(target=kill_workers, daemon=True)
    killer.start()
    try:
        responses = dict(client.get_all_responses("recorder", receive_timeout_in_seconds=60))
    finally:
        finished.set()
        killer.join(10)
        client.close()

    executions = Counter(n for event, _pid, n in runs(log) if event == "start")
    interrupted = sum(
        1 for event, pid, _n in runs(log) if event == "start" and pid in killed
    ) - sum(1 for event, pid, _n in runs(log) if event == "done" and pid in killed)
    repeated = sum(times - 1 for times in executions.values())
    lost = count - len(responses)
    print(
        f"\n{count} requests, {len(killed)} servers SIGKILLed ({interrupted} mid-request): "
        f"{lost} lost, {repeated} executed more than once"
    )
    assert {sent[request_id] for request_id in responses} == set(range(count))
    assert all(response.errors == [] for response in responses.values())
    assert set(executions) == set(range(count))
    assert len(killed) >= 3
    assert all(supervisor.process.poll() is None for supervisor in supervisors)
    assert interrupted >= 1, "no server was killed while it served a request"


def test_redis_restarted_mid_traffic_servers_and_clients_recover_on_their_own(
    tmp_path: Path,
) -> None:
    with running_redis("--appendonly", "yes", "--appendfsync", "everysec") as broker:
        folder = tmp_path / "servers"
        folder.mkdir()
        servers = Servers(folder, broker.url)
        try:
            outcome = _traffic_through_a_restart(servers, broker, tmp_path / "runs.log")
        finally:
            servers.stop_all()
    errors, outage, after, alive = outcome
    print(
        f"\nredis-server restarted (outage {outage[1] - outage[0]:.2f} s): {len(errors)} calls "
        f"failed, {after} answered after it"
    )
    call_timeout = 2.0
    for moment, error in errors:
        assert outage[0] - call_timeout <= moment <= outage[1] + call_timeout, error
    assert after >= 50
    assert alive


def _traffic_through_a_restart(
    servers: Servers, broker: RedisServer, log: Path
) -> tuple[list[tuple[float, str]], tuple[float, float], int, bool]:
    """Call the service in a loop; restart Redis after 50 answers; stop 50 answers after
    it is back. Returns the failed calls, the outage, the answers after it, and whether the
    servers lived through it."""
    processes = [servers.start(), servers.start()]
    client = recorder_client(broker.url)
    look = redis.Redis.from_url(broker.url)
    for process in processes:
        wait_until(lambda process=process: registered(look, process), "a server to start")
    errors: list[tuple[float, str]] = []
    outage: list[float] = []
    answered_after = 0
    restarter: threading.Thread | None = None

    def restart() -> None:
        outage.append(time.monotonic())
        broker.restart()
        outage.append(time.monotonic())

    deadline = time.monotonic() + 60
    for n in itertools.count():
        assert time.monotonic() < deadline, "the calls did not recover from the restart"
        try:
            client.call_action("recorder", "record", {"log": str(log), "n": n}, timeout=2)
        except TransportError as error:
            errors.append((time.monotonic(), f"{type(error).__name__}: {error}"))
            continue
        if len(outage) == 2:
            answered_after += 1
            if answered_after >= 50:
                break
        elif restarter is None and n >= 50:
            restarter = threading.Thread(target=restart, daemon=True)
            restarter.start()
    assert restarter is not None
    restarter.join(30)
    client.close()
    alive = all(process.process.poll() is None for process in processes)
    return errors, (outage[0], outage[1]), answered_after, alive


def test_when_the_reapers_owner_dies_another_servers_reaper_takes_over(
    servers: Servers, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    owner = servers.start()
    wait_until(
        lambda: (redis_client.get(f"{BASE}:reaper") or b"").decode().startswith(id_of(owner)),
        "the first server to own the reaper",
    )
    client = recorder_client(redis_url)
    request_id = client.send_request(
        "recorder", [{"action": "hold", "body": {"folder": str(tmp_path)}}]
    )
    wait_until((tmp_path / f"holding-{owner.pid}").exists, "the owner to take it")
    other = servers.start()
    wait_until(lambda: registered(redis_client, other), "the second server to start")

    owner.kill()
    (tmp_path / "release").touch()
    [(answered_id, response)] = list(
        client.get_all_responses("recorder", receive_timeout_in_seconds=15)
    )

    assert answered_id == request_id
    assert response.actions[0].body["pid"] == other.pid
    reaper = (redis_client.get(f"{BASE}:reaper") or b"").decode()
    assert reaper.startswith(id_of(other))
    assert "delivered again" in other.log
    client.close()
