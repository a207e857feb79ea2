"""Parallel calls over Redis: ``call_actions_parallel`` of 100 actions against two server
processes, servicewire vs PySOA 1.4.9 on the same private redis-server.

Each side runs its service with two worker processes (``servicewire serve --fork 2`` here,
PySOA's own command line with ``--fork 2`` there); servicewire's client runs in this process,
PySOA's in its environment, in interleaved rounds. The unit is actions per second: each call
sends 100 one-action jobs at once and waits for every reply, in request order.

Run: ``.venv/bin/python benchmarks/bench_parallel.py [--rounds 7] [--count 100] [--write]``
"""

from __future__ import annotations

import argparse
from functools import partial

from _harness import Comparison, interleave, rate, report, run_pysoa
from bench_redis import bench_client, pysoa_server, redis_version, servicewire_server
from tests.support.services import running_redis

ACTIONS = 100
WORKERS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=100, help="parallel calls per round")
    parser.add_argument("--write", action="store_true", help="save the report in results/")
    arguments = parser.parse_args()
    actions = [{"action": "ping", "body": {"value": i}} for i in range(ACTIONS)]

    with (
        running_redis() as redis_server,
        servicewire_server(redis_server, WORKERS),
        pysoa_server(redis_server, WORKERS),
    ):
        client = bench_client(redis_server)

        def call() -> object:
            responses = client.call_actions_parallel("bench", actions)
            return [response.body for response in responses]

        rate(call, 10)
        ours, theirs = interleave(
            arguments.rounds,
            partial(rate, call, arguments.count, ACTIONS),
            partial(
                run_pysoa,
                "redis_client.py",
                str(redis_server.port),
                "parallel_100",
                str(arguments.count),
            ),
        )
        version = redis_version(redis_server)

    report(
        "Parallel calls over Redis",
        [Comparison(f"call_actions_parallel, {ACTIONS} actions", "actions/s", ours, theirs)],
        notes=(
            f"One private redis-server ({version}) on loopback; each side's service in "
            f"{WORKERS} worker processes (`servicewire serve --fork {WORKERS}`, PySOA's "
            f"`simple_main` with `--fork {WORKERS}`); each client in its own process; "
            f"{arguments.rounds} rounds of {arguments.count} calls."
        ),
        write="parallel.md" if arguments.write else "",
    )


if __name__ == "__main__":
    main()
