"""Redis transport: servicewire vs PySOA 1.4.9 on the same private redis-server.

Each side runs one server process (``servicewire serve`` here, PySOA's own command line
there) for its own service; servicewire's client runs in this process, PySOA's in its
environment. Three scenarios, in interleaved rounds: sequential ``call_action`` with a tiny
body, ``call_action`` with a 10 KB request and response, and ``call_actions`` with 10
actions per job.

Run: ``.venv/bin/python benchmarks/bench_redis.py [--rounds 5] [--count 3000] [--write]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from _harness import (
    PYSOA_SIDE,
    ROOT,
    Comparison,
    interleave,
    rate,
    report,
    run_pysoa,
)
from tests.support.pysoa import pysoa_python
from tests.support.services import RedisServer, running_redis

from servicewire import Client

BENCHMARKS = Path(__file__).resolve().parent


@contextmanager
def serving(command: list[str], cwd: Path, env: dict[str, str], workers: int) -> Iterator[None]:
    """Run a server command until the block ends, once its ``workers`` processes all serve
    (each writes a heartbeat file named by ``BENCH_HEARTBEAT``)."""
    with tempfile.TemporaryDirectory(prefix="servicewire-bench-") as directory:
        heartbeat = os.path.join(directory, "{{pid}}.beat")
        process = subprocess.Popen(
            command, cwd=cwd, env={**os.environ, **env, "BENCH_HEARTBEAT": heartbeat}
        )
        try:
            deadline = time.monotonic() + 60
            while len(os.listdir(directory)) < workers:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not start {workers} server process(es)")
                time.sleep(0.05)
            yield
        finally:
            process.terminate()
            process.wait(30)


def fork_options(workers: int) -> list[str]:
    return ["--fork", str(workers)] if workers > 1 else []


def servicewire_server(redis_server: RedisServer, workers: int = 1) -> ContextManager[None]:
    """``servicewire serve`` with ``workers`` processes."""
    command = [sys.executable, "-m", "servicewire.cli", "serve", "redis_service:BenchServer",
               "-s", "redis_service", *fork_options(workers)]  # fmt: skip
    env = {"BENCH_REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT / "src")}
    return serving(command, BENCHMARKS, env, workers)


def pysoa_server(redis_server: RedisServer, workers: int = 1) -> ContextManager[None]:
    """PySOA's own command line (``simple_main``) with ``workers`` processes."""
    command = [str(pysoa_python()), "-m", "redis_server", "-s", "redis_server",
               *fork_options(workers)]  # fmt: skip
    return serving(command, PYSOA_SIDE, {"BENCH_REDIS_PORT": str(redis_server.port)}, workers)


def redis_version(redis_server: RedisServer) -> str:
    return subprocess.run(
        [redis_server.binary, "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]


def bench_client(redis_server: RedisServer) -> Client:
    """A servicewire client of the benchmark service over ``redis_server``."""
    transport = {
        "path": "servicewire.transport.redis:RedisClientTransport",
        "kwargs": {"backend_layer_kwargs": {"hosts": [redis_server.url]}},
    }
    return Client({"bench": {"transport": transport}})


def scenarios(client: Client) -> dict[str, Callable[[], object]]:
    ten = [{"action": "ping", "body": {"value": i}} for i in range(10)]
    return {
        "tiny": lambda: client.call_action("bench", "ping", {"value": 1}),
        "10kb": lambda: client.call_action("bench", "echo", {"data": "x" * 10240}),
        "ten_actions": lambda: client.call_actions("bench", ten),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=3000, help="calls per round (tiny)")
    parser.add_argument("--write", action="store_true", help="save the report in results/")
    arguments = parser.parse_args()
    counts = {
        "tiny": arguments.count,
        "10kb": arguments.count * 2 // 3,
        "ten_actions": arguments.count // 3,
    }
    titles = {
        "tiny": ("sequential call_action, tiny body", "calls/s"),
        "10kb": ("call_action, 10 KB request and response", "calls/s"),
        "ten_actions": ("call_actions, 10 actions per job", "jobs/s"),
    }

    with (
        running_redis() as redis_server,
        servicewire_server(redis_server),
        pysoa_server(redis_server),
    ):
        calls = scenarios(bench_client(redis_server))
        comparisons = []
        for name, call in calls.items():
            rate(call, 200)
            ours, theirs = interleave(
                arguments.rounds,
                partial(rate, call, counts[name]),
                partial(
                    run_pysoa, "redis_client.py", str(redis_server.port), name, str(counts[name])
                ),
            )
            comparisons.append(Comparison(titles[name][0], titles[name][1], ours, theirs))
        version = redis_version(redis_server)

    report(
        "Redis transport",
        comparisons,
        notes=(
            f"One private redis-server ({version}) on loopback, one server process per side "
            "(`servicewire serve` and PySOA's `simple_main`), each client in its own process, "
            f"{arguments.rounds} rounds of {arguments.count} tiny calls, "
            f"{counts['10kb']} 10 KB calls and {counts['ten_actions']} ten-action jobs."
        ),
        write="redis.md" if arguments.write else "",
    )


if __name__ == "__main__":
    main()
