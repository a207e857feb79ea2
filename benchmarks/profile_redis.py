"""Where a servicewire call over Redis spends its time: the per-call cost of each step on
each side, and the system calls per call of every system of ``bench_redis.py``.

Steps: a ``servicewire serve`` process runs under ``cProfile`` (``profiled_server.py``)
while a client in this process, under ``cProfile`` too (both counting CPU time), makes
sequential tiny calls; each function's own time is put in the step its module and name
belong to (envelope, serialize, frame, Redis command, decode, validate, dispatch, respond,
other), and the shares are scaled to the CPU per call measured without a profiler, by a
plain server first (the profiler's overhead inflates every function alike, roughly).

System calls: the client process and the server processes of each system are traced with
``strace -c -f`` during a round of calls (``strace`` must be installed).

Run: ``.venv/bin/python benchmarks/profile_redis.py [--calls 3000] [--seconds 2] [--cpus 0]``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import signal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _cases import CASES
from _harness import (
    Callers,
    add_cpus_option,
    counting_system_calls,
    cpu_seconds,
    pin_to_cpus,
    publish,
    serving,
)
from bench_redis import (
    BENCHMARKS,
    LABELS,
    SYSTEMS,
    all_servers,
    bench_client,
    client_command,
    redis_version,
    servicewire_server,
)
from tests.support.services import RedisServer, running_redis

STEPS = (
    "envelope",
    "serialize",
    "frame",
    "Redis command",
    "decode",
    "validate",
    "dispatch",
    "respond",
    "other",
)
_DECODING = ("parse", "decode", "read_message", "feed", "unpack", "blob_to_dict", "reply")


def step_of(filename: str, function: str) -> str:
    """The step a function's own time belongs to, by its module and name."""
    where = filename.replace("\\", "/")
    if "msgpack" in where or "msgpack" in function or "/serializer/" in where:
        decoding = any(word in function for word in ("unpack", "blob_to_dict", "loads"))
        return "decode" if decoding else "serialize"
    if where.endswith(("redis/protocol.py", "redis/codec.py")):
        return "decode" if any(word in function for word in _DECODING) else "frame"
    redis_io = ("/redis/", "hiredis", "link.py", "backend.py", "socket.py", "selectors.py")
    if any(part in where for part in redis_io) or any(
        word in function for word in ("recv", "send", "poll", "select", "getpid", "connect")
    ):
        return "Redis command"
    if "/client/" in where:
        return "envelope"
    if "/server/validation" in where or "pydantic" in where:
        return "validate"
    if "/server/" in where and any(word in function for word in ("respon", "send")):
        return "respond"
    if "/server/" in where:
        return "dispatch"
    if "/transport/redis/" in where:
        return "decode" if "receive" in function or "read" in function else "frame"
    return "other"


def steps(stats: pstats.Stats) -> dict[str, float]:
    """Each step's share of the profiled time."""
    totals: dict[str, float] = defaultdict(float)
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        totals[step_of(filename, function)] += row[2]  # tottime
    whole = sum(totals.values()) or 1.0
    return {step: totals[step] / whole for step in STEPS}


def top_functions(stats: pstats.Stats, cpu: float, count: int = 8) -> list[str]:
    """The functions with the most own time, in µs per call (scaled as the steps are)."""
    rows = stats.stats.items()  # type: ignore[attr-defined]
    whole = sum(row[2] for _, row in rows) or 1.0
    ordered = sorted(rows, key=lambda item: -item[1][2])[:count]
    return [
        f"{function} ({Path(filename).name}:{line}) {row[2] / whole * cpu:.0f}"
        for (filename, line, function), row in ordered
    ]


def profile_steps(
    redis_server: RedisServer, calls: int
) -> tuple[dict[str, float], dict[str, float], float, float]:
    """Each side's step shares, and its CPU µs per call without a profiler."""
    client = bench_client(redis_server)
    action = CASES["tiny"][0]

    def call() -> object:
        return client.call_action("bench", action["action"], action["body"])

    def cpu_per_call(pids: list[int]) -> tuple[float, float]:
        for _ in range(300):
            call()
        client_started, server_started = time.process_time(), cpu_seconds(pids)
        for _ in range(calls):
            call()
        return (
            (time.process_time() - client_started) / calls * 1e6,
            (cpu_seconds(pids) - server_started) / calls * 1e6,
        )

    with servicewire_server(redis_server) as pids:
        client_cpu, server_cpu = cpu_per_call(pids)
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "server.prof"
        command = [sys.executable, "profiled_server.py", str(output), "serve",
                   "redis_service:BenchServer", "-s", "redis_service"]  # fmt: skip
        with serving(command, BENCHMARKS, {"BENCH_REDIS_URL": redis_server.url}, 1) as pids:
            for _ in range(300):
                call()
            os.kill(pids[0], signal.SIGUSR1)
            # CPU time, not wall time (most of which is the wait for the reply).
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(calls):
                call()
            profiler.disable()
            os.kill(pids[0], signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not output.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # written
        client_stats, server_stats = pstats.Stats(profiler), pstats.Stats(str(output))
        client_shares, server_shares = steps(client_stats), steps(server_stats)
    print("Client, most own time (µs per call):", *top_functions(client_stats, client_cpu),
          "Server, most own time (µs per call):", *top_functions(server_stats, server_cpu),
          sep="\n  ")  # fmt: skip
    return client_shares, server_shares, client_cpu, server_cpu


def count_system_calls(
    redis_server: RedisServer, seconds: float
) -> dict[str, tuple[float, float, str, str]]:
    """System calls per tiny call, client side and server side, of every system, and the
    two most frequent of each side."""
    counted: dict[str, tuple[float, float, str, str]] = {}
    with (
        tempfile.TemporaryDirectory() as directory,
        all_servers(redis_server, 1, Path(directory)) as pids,
    ):
        for system in SYSTEMS:
            callers = Callers(
                [client_command(system, redis_server.port, Path(directory))], BENCHMARKS
            )
            try:
                callers.round("tiny", 0.2, pids[system])
                client_pid = callers.processes[0].pid
                with (
                    counting_system_calls([client_pid]) as client_calls,
                    counting_system_calls(pids[system]) as server_calls,
                ):
                    sample = callers.round("tiny", seconds, pids[system])
                made = sample.rate * seconds
                counted[system] = (
                    sum(client_calls.values()) / made,
                    sum(server_calls.values()) / made,
                    _top(client_calls, made),
                    _top(server_calls, made),
                )
            finally:
                callers.close()
    return counted


def _top(counts: dict[str, int], made: float) -> str:
    ordered = sorted(counts.items(), key=lambda item: -item[1])[:4]
    return ", ".join(f"{name} {count / made:.1f}" for name, count in ordered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000, help="profiled calls")
    parser.add_argument("--seconds", type=float, default=2.0, help="traced seconds per system")
    add_cpus_option(parser)
    arguments = parser.parse_args()
    pinned = pin_to_cpus(arguments.cpus)
    with running_redis() as redis_server:
        client_shares, server_shares, client_cpu, server_cpu = profile_steps(
            redis_server, arguments.calls
        )
        system_calls = count_system_calls(redis_server, arguments.seconds)
        version = redis_version(redis_server)

    lines = [
        "## Redis hot path: where a tiny call's CPU goes",
        "",
        "| step | client µs/call | server µs/call |",
        "|---|---:|---:|",
        *(
            f"| {step} | {client_shares[step] * client_cpu:.0f} | "
            f"{server_shares[step] * server_cpu:.0f} |"
            for step in STEPS
        ),
        f"| **all** | **{client_cpu:.0f}** | **{server_cpu:.0f}** |",
        "",
        "| system | system calls per call, client | server | most frequent, client | server |",
        "|---|---:|---:|---|---|",
        *(
            f"| {LABELS[system]} | {client:.1f} | {server:.1f} | {client_top} | {server_top} |"
            for system, (client, server, client_top, server_top) in system_calls.items()
        ),
        "",
        f"Sequential tiny calls, one server process, Python {sys.version.split()[0]}, one "
        f"private redis-server ({version}). Steps: shares of `cProfile` own time, by module "
        "and function, scaled to each side's CPU per call measured without the profiler; "
        "system calls: "
        f"`strace -c -f` on the client and server processes for {arguments.seconds:g} s." + pinned,
    ]
    publish(lines)


if __name__ == "__main__":
    main()
