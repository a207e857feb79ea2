"""The HTTP/JSON gateway: requests per second through ``servicewire gateway`` to a service
over Redis, beside the same calls made directly by ``AsyncClient``.

One private redis-server; one ``servicewire serve`` process of the Redis benchmarks' service
(``redis_service:BenchServer``); one ``servicewire gateway`` process (uvicorn) exposing its
``ping``; and, for the cost of HTTP alone, a bare Starlette endpoint answering the same JSON
on the same uvicorn, without a service behind it. This process makes the calls from
asyncio, with ``--connections`` calls in flight at once: over HTTP with httpx (one
keep-alive connection each), and directly with one ``AsyncClient``. Rounds interleave the
three. There is no PySOA counterpart.

Run: ``.venv/bin/python benchmarks/bench_gateway.py [--rounds 5] [--count 2000]
[--connections 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from _harness import ROOT, publish, wait_until_serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.support.services import RedisServer, free_port, running_redis

from servicewire import AsyncClient, Client

BENCHMARKS = Path(__file__).resolve().parent
SERVICE = "bench"


async def _bare_ping(request: Request) -> JSONResponse:
    return JSONResponse({"pong": (await request.json()).get("value")})


bare_app = Starlette(routes=[Route(f"/{SERVICE}/ping", _bare_ping, methods=["POST"])])
"""The HTTP stack alone: what any endpoint on this uvicorn costs, for comparison."""


@contextmanager
def process(command: list[str], redis_server: RedisServer) -> Iterator[subprocess.Popen[bytes]]:
    started = subprocess.Popen(
        command,
        cwd=BENCHMARKS,
        env={**os.environ, "BENCH_REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        yield started
    finally:
        started.terminate()
        started.wait(30)


def client_config(redis_server: RedisServer) -> dict[str, object]:
    transport = {
        "path": "servicewire.transport.redis:RedisClientTransport",
        "kwargs": {"backend_layer_kwargs": {"hosts": [redis_server.url]}},
    }
    return {SERVICE: {"transport": transport}}


async def concurrent_rate(
    call: Callable[[int], Awaitable[object]], count: int, tasks: int
) -> float:
    """Calls per second of ``count`` calls made by ``tasks`` tasks in a closed loop."""
    per_task = count // tasks

    async def loop() -> None:
        for n in range(per_task):
            await call(n)

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(tasks)))
    return per_task * tasks / (time.perf_counter() - began)


async def through_gateway(url: str, count: int, connections: int) -> float:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits) as http:

        async def call(n: int) -> object:
            response = await http.post(f"/{SERVICE}/ping", json={"value": n})
            if response.status_code != 200:
                raise RuntimeError(f"the gateway answered {response.status_code}: {response.text}")
            return response.json()

        await call(0)  # connected
        return await concurrent_rate(call, count, connections)


async def direct(client: AsyncClient, count: int, connections: int) -> float:
    async def call(n: int) -> object:
        return (await client.call_action(SERVICE, "ping", {"value": n})).body

    await call(0)
    return await concurrent_rate(call, count, connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000, help="calls per round and side")
    parser.add_argument("--connections", type=int, default=4, help="calls in flight at once")
    options = parser.parse_args()

    with ExitStack() as stack:
        redis_server = stack.enter_context(running_redis())
        serve = [sys.executable, "-m", "servicewire.cli", "serve", "redis_service:BenchServer"]
        stack.enter_context(process([*serve, "-s", "redis_service"], redis_server))
        wait_until_serving(
            lambda: Client(client_config(redis_server)).call_action(SERVICE, "ping", timeout=2)
        )
        port = free_port()
        gateway = [
            sys.executable, "-m", "servicewire.cli", "gateway", "--transport", redis_server.url,
            "--expose", f"{SERVICE}:ping", "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
        stack.enter_context(process(gateway, redis_server))
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(lambda: httpx.get(f"{url}/openapi.json").raise_for_status())
        bare_port = free_port()
        bare = [
            sys.executable, "-m", "uvicorn", "bench_gateway:bare_app", "--port", str(bare_port),
            "--log-level", "warning",
        ]  # fmt: skip
        stack.enter_context(process(bare, redis_server))
        bare_url = f"http://127.0.0.1:{bare_port}"
        wait_until_serving(lambda: httpx.post(f"{bare_url}/{SERVICE}/ping", json={}))

        async def rounds() -> tuple[list[float], list[float], list[float]]:
            via_http, via_client, via_bare = [], [], []
            n, connections = options.count, options.connections
            async with AsyncClient(client_config(redis_server)) as client:
                for _ in range(options.rounds):
                    via_http.append(await through_gateway(url, n, connections))
                    via_client.append(await direct(client, n, connections))
                    via_bare.append(await through_gateway(bare_url, n, connections))
            return via_http, via_client, via_bare

        via_http, via_client, via_bare = asyncio.run(rounds())

    gateway_rate, client_rate = statistics.median(via_http), statistics.median(via_client)
    bare_rate = statistics.median(via_bare)
    publish(
        [
            "## HTTP/JSON gateway",
            "",
            "| calls | through the gateway (HTTP) | AsyncClient directly | bare Starlette "
            "endpoint (HTTP alone) | unit |",
            "|---|---:|---:|---:|---|",
            f"| `ping`, {options.connections} in flight | {gateway_rate:,.0f} | "
            f"{client_rate:,.0f} | {bare_rate:,.0f} | calls/s |",
            "",
            f"Medians of {options.rounds} interleaved rounds of {options.count} calls; Python "
            f"{sys.version.split()[0]}, {os.cpu_count()} CPUs. One private redis-server, one "
            "server process, one gateway process and one bare endpoint process (uvicorn, "
            "h11); the callers (httpx, AsyncClient) in the benchmark's process.",
        ]
    )


if __name__ == "__main__":
    main()
