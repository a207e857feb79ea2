"""Ways of driving redis-py for the same exchange: how much of redis-py's floor is the
high-level API's own per-command work (pool checkout, health check, fork check), and how
close a held connection comes to the raw socket.

One raw-socket floor server (``redis_floor.py``) answers; four client paths take turns,
round after round, pushing the same captured request and popping the same reply:

- ``redis-py``: ``Redis.rpush`` and ``Redis.blpop`` (the stock API, via the pool);
- ``redis-py-connection``: one ``Connection`` of the pool, held, with its ``send_command``
  and ``read_response`` (hiredis), still a round trip per command;
- ``redis-py-pipelined``: the held connection with the push and the pop in one
  ``send_packed_command(..., check_health=False)``, as servicewire's links write;
- ``raw``: RESP over a plain socket with ``hiredis.Reader``.

Each reports calls/s, p50, client CPU µs per call and (with ``strace``) system calls per
call on the client side.

Run: ``.venv/bin/python benchmarks/bench_redis_paths.py [--rounds 5] [--seconds 1]
[--case tiny]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from _harness import Callers, Sample, counting_system_calls, median_sample, publish
from bench_redis import (
    BENCHMARKS,
    capture_payloads,
    client_command,
    floor_server,
    redis_version,
    servicewire_server,
)
from tests.support.services import running_redis

PATHS = {
    "redis-py": "stock API (`rpush`, `blpop`)",
    "redis-py-connection": "held `Connection`, `send_command` / `read_response`",
    "redis-py-pipelined": "held `Connection`, push and pop in one `send_packed_command`",
    "raw": "raw socket, `hiredis.Reader`",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--case", default="tiny", choices=("tiny", "10kb", "1mb", "ten_actions"))
    arguments = parser.parse_args()
    samples: dict[str, list[Sample]] = {path: [] for path in PATHS}
    system_calls: dict[str, float] = {}
    with running_redis() as redis_server, ExitStack() as stack:
        payloads = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        with servicewire_server(redis_server):
            capture_payloads(redis_server, payloads)
        server = stack.enter_context(floor_server(redis_server, "raw", payloads))
        callers = {}
        for path in PATHS:
            command = [*client_command(path, redis_server.port, payloads), "--server", "raw"]
            callers[path] = Callers([command], BENCHMARKS)
            stack.callback(callers[path].close)
        for _ in range(arguments.rounds):
            for path, caller in callers.items():
                samples[path].append(caller.round(arguments.case, arguments.seconds, server))
        if shutil.which("strace"):
            for path, caller in callers.items():
                caller.round(arguments.case, 0.1, server)
                with counting_system_calls([caller.processes[0].pid]) as counts:
                    sample = caller.round(arguments.case, arguments.seconds, server)
                system_calls[path] = sum(counts.values()) / (sample.rate * arguments.seconds)
        version = redis_version(redis_server)

    stock = median_sample(samples["redis-py"])
    lines = [
        "## redis-py paths for one push / blocking-pop exchange",
        "",
        "| client path | calls/s | p50 µs | client CPU µs/call | system calls/call | x stock |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for path, title in PATHS.items():
        sample = median_sample(samples[path])
        calls = f"{system_calls[path]:.1f}" if path in system_calls else "-"
        lines.append(
            f"| {title} | {sample.rate:,.0f} | {sample.p50:,.0f} | {sample.client_cpu:,.0f} | "
            f"{calls} | {sample.rate / stock.rate:.2f}x |"
        )
    lines += [
        "",
        f"Case {arguments.case}; medians of {arguments.rounds} alternating rounds of "
        f"{arguments.seconds:g} s; Python {sys.version.split()[0]}, one private redis-server "
        f"({version}), answered by the raw-socket floor server; system calls counted with "
        "`strace -c -f` on the client process.",
    ]
    publish(lines)


if __name__ == "__main__":
    main()
