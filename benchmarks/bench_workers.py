"""Worker threads: an I/O-bound action (a 5 ms sleep) served by one process with ``workers``
1, 4 and 16, over Redis.

Each setting runs as its own ``servicewire serve`` process (one service each, all on one
private redis-server); 32 client threads in this process call ``call_action`` in a closed
loop, so that up to 32 calls are in flight. Rounds interleave the settings.

Run: ``.venv/bin/python benchmarks/bench_workers.py [--rounds 5] [--count 2000] [--write]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _harness import ROOT, publish, redis_version, wait_until_serving
from tests.support.services import RedisServer, running_redis

from servicewire import Client

BENCHMARKS = Path(__file__).resolve().parent
WORKERS = (1, 4, 16)
CLIENT_THREADS = 32


@contextmanager
def server(redis_server: RedisServer, workers: int) -> Iterator[str]:
    service = f"sleep{workers}"
    process = subprocess.Popen(
        [sys.executable, "-m", "servicewire.cli", "serve", "workers_service:SleepServer",
         "-s", "workers_service"],
        cwd=BENCHMARKS,
        env={
            **os.environ,
            "BENCH_REDIS_URL": redis_server.url,
            "BENCH_SERVICE": service,
            "BENCH_WORKERS": str(workers),
            "PYTHONPATH": str(ROOT / "src"),
        },
    )  # fmt: skip
    try:
        yield service
    finally:
        process.terminate()
        process.wait(30)


def concurrent_rate(call: Callable[[int], object], count: int, threads: int) -> float:
    """Calls per second of ``count`` calls made by ``threads`` threads in a closed loop."""
    per_thread = count // threads
    start = threading.Barrier(threads + 1)

    def loop() -> None:
        start.wait()
        for n in range(per_thread):
            call(n)

    callers = [threading.Thread(target=loop) for _ in range(threads)]
    for caller in callers:
        caller.start()
    start.wait()
    began = time.perf_counter()
    for caller in callers:
        caller.join()
    return per_thread * threads / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000, help="calls per round and setting")
    parser.add_argument("--write", action="store_true", help="save the report in results/")
    arguments = parser.parse_args()

    with running_redis() as redis_server, ExitStack() as stack:
        transport = {
            "path": "servicewire.transport.redis:RedisClientTransport",
            "kwargs": {"backend_layer_kwargs": {"hosts": [redis_server.url]}},
        }
        services = {
            workers: stack.enter_context(server(redis_server, workers)) for workers in WORKERS
        }
        client = Client({service: {"transport": transport} for service in services.values()})
        calls = {
            workers: (lambda n, service=service: client.call_action(service, "wait", {"n": n}))
            for workers, service in services.items()
        }
        for call in calls.values():
            wait_until_serving(lambda call=call: call(0))
            concurrent_rate(call, 200, CLIENT_THREADS)
        rates: dict[int, list[float]] = {workers: [] for workers in WORKERS}
        for _ in range(arguments.rounds):
            for workers, call in calls.items():
                rates[workers].append(concurrent_rate(call, arguments.count, CLIENT_THREADS))
        version = redis_version(redis_server)

    single = statistics.median(rates[1])
    lines = [
        "## Worker threads",
        "",
        "| workers | calls/s | vs workers=1 | ideal (5 ms each) |",
        "|---:|---:|---:|---:|",
        *(
            f"| {workers} | {statistics.median(rates[workers]):,.0f} | "
            f"{statistics.median(rates[workers]) / single:.1f}x | {workers * 200:,} |"
            for workers in WORKERS
        ),
        "",
        f"Medians of {arguments.rounds} interleaved rounds of {arguments.count} calls; Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, one private redis-server ({version}) "
        f"on loopback, one server process per setting, {CLIENT_THREADS} client threads in one "
        "process. The action sleeps 5 ms (I/O-bound work): one worker serves at most 200 "
        "calls/s.",
    ]
    publish(lines, "workers.md" if arguments.write else "")


if __name__ == "__main__":
    main()
