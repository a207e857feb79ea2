"""Redis transport: servicewire, PySOA 1.4.9 and the machine's two floors, on one private
redis-server, in alternating rounds.

The four systems each run their own servers and their own client processes:

- servicewire: ``servicewire serve`` and ``Client`` (``AsyncClient`` in the asyncio cases);
- PySOA 1.4.9: its own command line (``simple_main``) and client, in its own environment;
- the redis-py floor and the raw-socket floor (``redis_floor.py``): the same push /
  blocking-pop exchange with the bytes servicewire really sends and answers, captured at
  the start, and no framework.

Cases: sequential calls with a tiny body, 10 KB and 1 MB each way (the 1 MB responses
chunked, as both servers' ``chunk_messages_larger_than_bytes`` allow), and a ``call_actions``
of 10 actions, against one server process each; 4 client processes against 2 server
processes (tiny bodies); one ``AsyncClient`` with 16 and with 64 calls in flight against 2
server processes (servicewire only: PySOA has no asyncio client). Each reports calls per
second, the median and 99th percentile latency, and the CPU time per call of the clients
(measured in each client process) and of the servers (from their processes' counters).
``--memory`` measures the resident memory of a servicewire server after 1,000, 10,000 and
100,000 calls.

Run: ``.venv/bin/python benchmarks/bench_redis.py [--case NAME ...] [--rounds 5]
[--seconds 1] [--quick] [--memory] [--no-write] [--cpus 0]``; a run of every case (without
``--quick``) saves its report in ``results/redis.md``. ``--cpus`` keeps every process on the
CPUs named: on a 2-core machine, sequential calls with the client, the server and Redis on
one core cost no wake-ups across cores, and vary less from run to run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _cases import CASES, CHUNK_THRESHOLD, MAXIMUM_MESSAGE_BYTES
from _harness import (
    PYSOA_SIDE,
    ROOT,
    Callers,
    Sample,
    add_cpus_option,
    fork_options,
    median_sample,
    pin_to_cpus,
    publish,
    redis_version,
    rss_bytes,
    serving,
)
from redis_callers import client_settings
from tests.support.pysoa import pysoa_python
from tests.support.services import RedisServer, running_redis

from servicewire import Client
from servicewire.serializer import MsgpackSerializer
from servicewire.transport.redis.protocol import parse_frame, read_message

BENCHMARKS = Path(__file__).resolve().parent
SYSTEMS = ("servicewire", "pysoa", "redis-py", "raw")
LABELS = {
    "servicewire": "servicewire",
    "pysoa": "PySOA 1.4.9",
    "redis-py": "redis-py floor",
    "raw": "raw-socket floor",
    "servicewire-async": "servicewire AsyncClient",
}
CLIENT_PROCESSES = 4
SERVER_PROCESSES = 2


@dataclass(frozen=True)
class Case:
    title: str
    unit: str
    calls: str  # the case of _cases.py each client calls
    servers: int = 1
    clients: int = 1
    in_flight: int = 0  # asyncio: calls outstanding in one AsyncClient
    systems: tuple[str, ...] = SYSTEMS


BENCH_CASES = {
    "tiny": Case("sequential call_action, tiny body", "calls/s", "tiny"),
    "10kb": Case("sequential call_action, 10 KB request and response", "calls/s", "10kb"),
    "1mb": Case("sequential call_action, 1 MB request and response (chunked)", "calls/s", "1mb"),
    "ten_actions": Case("call_actions, 10 actions per job", "jobs/s", "ten_actions"),
    "throughput": Case(
        f"{CLIENT_PROCESSES} client processes x {SERVER_PROCESSES} server processes, tiny body",
        "calls/s", "tiny", servers=SERVER_PROCESSES, clients=CLIENT_PROCESSES,
    ),
    "async16": Case(
        f"one AsyncClient, 16 calls in flight, {SERVER_PROCESSES} server processes",
        "calls/s", "tiny", servers=SERVER_PROCESSES, in_flight=16,
        systems=("servicewire-async",),
    ),
    "async64": Case(
        f"one AsyncClient, 64 calls in flight, {SERVER_PROCESSES} server processes",
        "calls/s", "tiny", servers=SERVER_PROCESSES, in_flight=64,
        systems=("servicewire-async",),
    ),
}  # fmt: skip
MEMORY_CHECKPOINTS = (1_000, 10_000, 100_000)


# --- servers --------------------------------------------------------------------------------


def servicewire_server(redis_server: RedisServer, workers: int = 1) -> ContextManager[list[int]]:
    """``servicewire serve`` with ``workers`` processes."""
    command = [sys.executable, "-m", "servicewire.cli", "serve", "redis_service:BenchServer",
               "-s", "redis_service", *fork_options(workers)]  # fmt: skip
    env = {"BENCH_REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT / "src")}
    return serving(command, BENCHMARKS, env, workers)


def pysoa_server(redis_server: RedisServer, workers: int = 1) -> ContextManager[list[int]]:
    """PySOA's own command line (``simple_main``) with ``workers`` processes."""
    command = [str(pysoa_python()), "-m", "redis_server", "-s", "redis_server",
               *fork_options(workers)]  # fmt: skip
    return serving(command, PYSOA_SIDE, {"BENCH_REDIS_PORT": str(redis_server.port)}, workers)


def floor_server(
    redis_server: RedisServer, floor: str, payloads: Path, workers: int = 1
) -> ContextManager[list[int]]:
    """A floor's server loop (``redis_floor.py``) in ``workers`` processes."""
    command = [sys.executable, "redis_floor.py", floor, str(redis_server.port), str(payloads),
               "--processes", str(workers)]  # fmt: skip
    return serving(command, BENCHMARKS, {}, workers)


def bench_client(redis_server: RedisServer) -> Client:
    """A servicewire client of the benchmark service over ``redis_server``."""
    return Client(client_settings(redis_server.port))


def capture_payloads(redis_server: RedisServer, directory: Path) -> None:
    """Save, for each case, the request a servicewire client sends and the frames a
    servicewire server answers (``<case>.request``, ``<case>.response.<n>``), for the floors.

    The request is sent to a service nobody serves, taken off its queue, and handed to the
    running servicewire server, whose reply is taken off the reply queue it names.
    """
    import redis

    raw = redis.Redis(port=redis_server.port)
    client = Client(client_settings(redis_server.port, "bench_capture"))
    for case, actions in CASES.items():
        client.send_request("bench_capture", actions)
        # Popped with a wait: the client writes its push without waiting for it.
        request = _pop(raw, "pysoa:service.bench_capture")
        _, envelope = read_message(request, MsgpackSerializer())
        raw.rpush("pysoa:service.bench", request)
        reply_key = "pysoa:" + envelope.meta["reply_to"]
        frames = [_pop(raw, reply_key)]
        frames += [
            _pop(raw, reply_key) for _ in range((parse_frame(frames[0]).chunk_count or 1) - 1)
        ]
        (directory / f"{case}.request").write_bytes(request)
        for number, frame in enumerate(frames):
            (directory / f"{case}.response.{number}").write_bytes(frame)


def _pop(raw: object, key: str) -> bytes:
    popped = raw.blpop([key], 10)  # type: ignore[attr-defined]
    if popped is None:
        raise RuntimeError(f"No reply on {key}: is the servicewire server serving?")
    return bytes(popped[1])


@contextmanager
def all_servers(
    redis_server: RedisServer, workers: int, payloads: Path
) -> Iterator[dict[str, list[int]]]:
    """Every system's servers, ``workers`` processes each; the process ids per system.
    The floors' payloads are captured first, from the servicewire server."""
    with ExitStack() as stack:
        pids = {"servicewire": stack.enter_context(servicewire_server(redis_server, workers))}
        if not any(payloads.iterdir()):
            capture_payloads(redis_server, payloads)
        pids["servicewire-async"] = pids["servicewire"]
        pids["pysoa"] = stack.enter_context(pysoa_server(redis_server, workers))
        for floor in ("redis-py", "raw"):
            pids[floor] = stack.enter_context(floor_server(redis_server, floor, payloads, workers))
        yield pids


# --- clients --------------------------------------------------------------------------------


def client_command(system: str, port: int, payloads: Path) -> list[str]:
    if system == "pysoa":
        return [str(pysoa_python()), str(PYSOA_SIDE / "redis_client.py"), str(port), "--timed"]
    command = [sys.executable, "redis_callers.py", system, str(port)]
    if system.startswith(("redis-py", "raw")):
        command += ["--payloads", str(payloads)]
    return command


@dataclass
class Result:
    case: Case
    samples: dict[str, list[Sample]] = field(default_factory=dict)


def measure(
    cases: Sequence[str], rounds: int, seconds: float, redis_server: RedisServer
) -> list[Result]:
    """Run the cases in rounds, each round every system in turn; the cases against one
    server process first, then those against two."""
    results = [Result(BENCH_CASES[name]) for name in cases]
    with tempfile.TemporaryDirectory(prefix="servicewire-bench-payloads-") as directory:
        payloads = Path(directory)
        for servers in sorted({result.case.servers for result in results}):
            group = [result for result in results if result.case.servers == servers]
            systems = sorted({system for result in group for system in result.case.systems})
            most = max(result.case.clients for result in group)
            with all_servers(redis_server, servers, payloads) as pids, ExitStack() as stack:
                callers = {}
                for system in systems:
                    command = client_command(system, redis_server.port, payloads)
                    callers[system] = Callers([command] * most, BENCHMARKS)
                    stack.callback(callers[system].close)
                for number in range(rounds):
                    for result in group:
                        case = result.case
                        for system in case.systems:
                            sample = callers[system].round(
                                case.calls, seconds, pids[system], case.clients, case.in_flight or 1
                            )
                            result.samples.setdefault(system, []).append(sample)
                    print(
                        f"  {servers} server process(es): round {number + 1} of {rounds} done",
                        file=sys.stderr,
                        flush=True,
                    )
    return results


def measure_memory(redis_server: RedisServer) -> list[tuple[int, int]]:
    """The resident memory of a servicewire server process after each checkpoint's number
    of sequential calls (tiny and 10 KB bodies, alternately)."""
    with servicewire_server(redis_server) as (pid,):
        client = bench_client(redis_server)
        tiny, ten_kb = CASES["tiny"][0], CASES["10kb"][0]
        sizes, made = [], 0
        for checkpoint in MEMORY_CHECKPOINTS:
            while made < checkpoint:
                action = tiny if made % 2 else ten_kb
                client.call_action("bench", action["action"], action["body"])
                made += 1
            sizes.append((checkpoint, rss_bytes(pid)))
    return sizes


# --- report ---------------------------------------------------------------------------------


def case_table(result: Result) -> list[str]:
    medians = {system: median_sample(samples) for system, samples in result.samples.items()}
    pysoa = medians.get("pysoa")
    floor = medians.get("redis-py")
    lines = [
        f"**{result.case.title}**",
        "",
        f"| system | {result.case.unit} | p50 µs | p99 µs | client CPU µs/call | "
        "server CPU µs/call | x PySOA | x redis-py floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system, sample in medians.items():
        versus_pysoa = f"{sample.rate / pysoa.rate:.2f}x" if pysoa else "-"
        versus_floor = f"{sample.rate / floor.rate:.2f}x" if floor else "-"
        lines.append(
            f"| {LABELS[system]} | {sample.rate:,.0f} | {sample.p50:,.0f} | {sample.p99:,.0f} | "
            f"{sample.client_cpu:,.0f} | {sample.server_cpu:,.0f} | {versus_pysoa} | "
            f"{versus_floor} |"
        )
    return [*lines, ""]


def memory_table(sizes: list[tuple[int, int]]) -> list[str]:
    first = sizes[0][1]
    return [
        "**Memory of one servicewire server process** (resident set size)",
        "",
        "| after calls | RSS MB | growth since the first 1,000 calls, MB |",
        "|---:|---:|---:|",
        *(
            f"| {calls:,} | {size / 1e6:.2f} | {(size - first) / 1e6:+.2f} |"
            for calls, size in sizes
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=[*BENCH_CASES, "memory"],
        help="run only this case (repeatable); default: all but memory",
    )
    parser.add_argument("--rounds", type=int, help="rounds of every case (default 5; 3 quick)")
    parser.add_argument(
        "--seconds", type=float, help="how long each system calls per round (default 1; 0.4 quick)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also measure a server's memory over 100,000 calls (about a minute)",
    )
    parser.add_argument("--no-write", action="store_true", help="never save the report")
    add_cpus_option(parser)
    arguments = parser.parse_args()
    pinned = pin_to_cpus(arguments.cpus)
    selected = arguments.case or list(BENCH_CASES)
    cases = [name for name in selected if name != "memory"]
    memory = arguments.memory or "memory" in selected
    rounds = arguments.rounds or (3 if arguments.quick else 5)
    seconds = arguments.seconds or (0.4 if arguments.quick else 1.0)
    complete = not arguments.case and not arguments.quick and not arguments.no_write

    started = time.monotonic()
    with running_redis() as redis_server:
        results = measure(cases, rounds, seconds, redis_server) if cases else []
        sizes = measure_memory(redis_server) if memory else []
        version = redis_version(redis_server)

    lines = ["## Redis transport", ""]
    for result in results:
        lines += case_table(result)
    if sizes:
        lines += memory_table(sizes)
        lines += [
            "The memory case alternates 10 KB and tiny calls, one at a time, against one "
            "`servicewire serve` process.",
            "",
        ]
    if results:
        lines.append(
            f"Medians of {rounds} alternating rounds of {seconds:g} s per system; Python "
            f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, one private redis-server "
            f"({version}) on loopback, each system's servers and clients in processes of their "
            "own. Client CPU is measured in each client process (`time.process_time`), server "
            "CPU from the server processes' counters (`/proc/<pid>/stat`, 10 ms ticks). The "
            "floors push the bytes a servicewire client and server really sent, with no "
            "framework: the redis-py floor with the stock `rpush`/`blpop` API, the raw-socket "
            "floor with RESP packed by hiredis and one write per call. 1 MB responses go out in "
            f"chunks of {CHUNK_THRESHOLD // 1024} KB (`chunk_messages_larger_than_bytes`, and "
            f"{MAXIMUM_MESSAGE_BYTES // 2**20} MB message limits on both sides).{pinned}"
        )
    lines.append(f"Took {time.monotonic() - started:.0f} s.")
    publish(lines, "redis.md" if complete else "")


if __name__ == "__main__":
    main()
