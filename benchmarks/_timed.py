"""The client side of a timed benchmark process, in the standard library only (PySOA's
environment imports it too).

A client process warms up, prints ``{"ready": true}`` and waits for one line on its standard
input, ``{"seconds": S}``; then it calls in a closed loop for ``S`` seconds and prints what it
measured: the calls made, the seconds they took, its own CPU seconds (``time.process_time``:
user and system time of this process) and each call's latency in whole microseconds. The
benchmark starts several such processes, waits until all are ready, reads the servers' CPU
counters, says go, and reads them again once every process has answered.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

WARM_UP_SECONDS = 0.3


def _wait_for_go() -> float:
    print(json.dumps({"ready": True}), flush=True)
    return float(json.loads(sys.stdin.readline())["seconds"])


def _result(latencies: list[float], seconds: float, cpu: float, units: int) -> None:
    print(
        json.dumps(
            {
                "calls": len(latencies) * units,
                "seconds": seconds,
                "cpu": cpu,
                "latencies": [round(latency * 1e6) for latency in latencies],
            }
        ),
        flush=True,
    )


def closed_loop(call: Callable[[], object], units: int = 1) -> None:
    """Warm up, wait for the go, then call ``call`` back to back for the given seconds.

    ``units`` is how many calls one ``call`` counts for (a parallel call of 100 actions
    counts 100); latencies stay per ``call``.
    """
    deadline = time.perf_counter() + WARM_UP_SECONDS
    while time.perf_counter() < deadline:
        call()
    seconds = _wait_for_go()
    latencies = []
    cpu = time.process_time()
    start = now = time.perf_counter()
    stop = start + seconds
    while now < stop:
        call()
        done = time.perf_counter()
        latencies.append(done - now)
        now = done
    _result(latencies, now - start, time.process_time() - cpu, units)


def in_flight_loop(call: Callable[[], Awaitable[object]], in_flight: int) -> None:
    """:func:`closed_loop` for asyncio: ``in_flight`` tasks, each calling back to back, so
    that that many calls are always outstanding."""

    async def run() -> None:
        async def caller(stop: float, latencies: list[float] | None) -> None:
            now = time.perf_counter()
            while now < stop:
                await call()
                done = time.perf_counter()
                if latencies is not None:
                    latencies.append(done - now)
                now = done

        async def round_of(seconds: float, latencies: list[float] | None) -> float:
            start = time.perf_counter()
            stop = start + seconds
            await asyncio.gather(*(caller(stop, latencies) for _ in range(in_flight)))
            return time.perf_counter() - start

        await round_of(WARM_UP_SECONDS, None)
        seconds = await asyncio.get_running_loop().run_in_executor(None, _wait_for_go)
        latencies: list[float] = []
        cpu = time.process_time()
        elapsed = await round_of(seconds, latencies)
        _result(latencies, elapsed, time.process_time() - cpu, 1)

    asyncio.run(run())
