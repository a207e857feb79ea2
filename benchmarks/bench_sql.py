"""SQL transport: round trips per second over SQLite and over PostgreSQL.

One server process (a trivial action) and a client in this process, ``call_action`` after
``call_action``; and the same with ten requests in flight at once (``send_request`` ten
times, then ``get_all_responses``). There is no PySOA counterpart: PySOA has no SQL transport.

Run: ``.venv/bin/python benchmarks/bench_sql.py [--rounds 5] [--count 2000] [--write]
[--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]``. PostgreSQL is
measured in a throwaway database created on that server (skipped if it cannot be reached).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from _harness import ROOT, publish, rate

from servicewire import Action, Client, EnrichedActionRequest, Server
from servicewire.types import Body

SERVICE = "bench_ping"
BENCHMARKS = Path(__file__).resolve().parent


class Ping(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return {"pong": request.body.get("value")}


class PingServer(Server):
    service_name = SERVICE
    action_class_map = {"ping": Ping}


# This module is also the server's settings module: ``servicewire serve bench_sql:PingServer
# -s bench_sql``, with the database URL in BENCH_SQL_URL.
SOA_SERVER_SETTINGS = {
    "transport": {
        "path": "servicewire.transport.sql:SqlServerTransport",
        "kwargs": {"url": os.environ.get("BENCH_SQL_URL", ""), "receive_timeout_in_seconds": 1},
    },
    "logging": {"version": 1, "root": {"level": "WARNING"}},
}


@contextmanager
def server_process(url: str) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "servicewire.cli", "serve", "bench_sql:PingServer",
         "-s", "bench_sql"],
        cwd=BENCHMARKS,
        env={**os.environ, "BENCH_SQL_URL": url, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str | None]:
    try:
        import psycopg
    except ImportError:
        yield None
        return
    name = f"servicewire_bench_{uuid.uuid4().hex[:8]}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        print(f"PostgreSQL at {admin_url} is not usable ({error}); skipping it")
        yield None
        return
    try:
        yield f"{plain.rpartition('/')[0]}/{name}".replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    finally:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, rounds: int, count: int) -> dict[str, list[float]]:
    client = Client(
        {
            SERVICE: {
                "transport": {
                    "path": "servicewire.transport.sql:SqlClientTransport",
                    "kwargs": {"url": url},
                }
            }
        }
    )

    def call() -> object:
        return client.call_action(SERVICE, "ping", {"value": 1})

    def call_ten_in_flight() -> object:
        for value in range(10):
            client.send_request(SERVICE, [{"action": "ping", "body": {"value": value}}])
        return list(client.get_all_responses(SERVICE))

    benchmarks: dict[str, Callable[[], float]] = {
        "call_action, one at a time": lambda: rate(call, count),
        "send_request x10, then get_all_responses": lambda: rate(
            call_ten_in_flight, max(1, count // 10), units_per_call=10
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in benchmarks}
    with server_process(url):
        call()  # the server is up and the tables exist
        rate(call, 200)
        for _ in range(rounds):
            for name, benchmark in benchmarks.items():
                results[name].append(benchmark())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--write", action="store_true", help="save the report in results/")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    arguments = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="servicewire-bench-") as directory:
        sqlite_url = f"sqlite:///{directory}/bench.db"
        for name, values in measure(sqlite_url, arguments.rounds, arguments.count).items():
            rows.append(("SQLite", name, values))
    with postgres_database(arguments.postgres_url) as postgres_url:
        if postgres_url is not None:
            for name, values in measure(postgres_url, arguments.rounds, arguments.count).items():
                rows.append(("PostgreSQL", name, values))

    lines = [
        "## SQL transport",
        "",
        "| database | benchmark | servicewire | unit |",
        "|---|---|---:|---|",
        *(
            f"| {database} | {name} | {statistics.median(values):,.0f} | round trips/s |"
            for database, name, values in rows
        ),
        "",
        f"Medians of {arguments.rounds} rounds; one server process, the client in another; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d')}. PySOA has no SQL transport to compare with.",
    ]
    publish(lines, "sql.md" if arguments.write else "")


if __name__ == "__main__":
    main()
