"""The client side of a timed benchmark process, in the standard library only (PySOA's
environment imports it too).

A client process takes orders, one JSON line each on its standard input, and answers each
with one JSON line on its standard output:

- ``{"warm": CASE, "in_flight": N}``: make the calls of ``CASE`` (``N`` at a time, asyncio
  only) for a moment, then answer ``{"ready": true}``;
- ``{"seconds": S}``: call the case warmed last in a closed loop for ``S`` seconds, then
  answer the calls made, the seconds they took, this process's CPU seconds
  (``time.process_time``: user and system time) and each call's latency in whole
  microseconds.

The benchmark keeps its client processes for all rounds, warms them all, reads the servers'
CPU counters, says go, and reads the counters again once every process has answered.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

WARM_UP_SECONDS = 0.2


def _answer(**answer: Any) -> None:
    print(json.dumps(answer), flush=True)


def _measured(latencies: list[float], seconds: float, cpu: float) -> None:
    _answer(
        calls=len(latencies),
        seconds=seconds,
        cpu=cpu,
        latencies=[round(latency * 1e6) for latency in latencies],
    )


def closed_loop(make_call: Callable[[str], Callable[[], object]]) -> None:
    """Serve orders, calling ``make_call(case)()`` back to back (one call at a time)."""
    calls: dict[str, Callable[[], object]] = {}
    call: Callable[[], object] = lambda: None  # noqa: E731
    for line in sys.stdin:
        order = json.loads(line)
        if "warm" in order:
            call = calls.get(order["warm"]) or calls.setdefault(
                order["warm"], make_call(order["warm"])
            )
            deadline = time.perf_counter() + WARM_UP_SECONDS
            while time.perf_counter() < deadline:
                call()
            _answer(ready=True)
            continue
        latencies = []
        cpu = time.process_time()
        start = now = time.perf_counter()
        stop = start + float(order["seconds"])
        while now < stop:
            call()
            done = time.perf_counter()
            latencies.append(done - now)
            now = done
        _measured(latencies, now - start, time.process_time() - cpu)


def in_flight_loop(make_call: Callable[[str], Callable[[], Awaitable[object]]]) -> None:
    """:func:`closed_loop` for asyncio: ``in_flight`` tasks, each calling back to back, so
    that that many calls are always outstanding."""

    async def caller(
        call: Callable[[], Awaitable[object]], stop: float, latencies: list[float]
    ) -> None:
        now = time.perf_counter()
        while now < stop:
            await call()
            done = time.perf_counter()
            latencies.append(done - now)
            now = done

    async def calling(
        call: Callable[[], Awaitable[object]], in_flight: int, seconds: float
    ) -> tuple[list[float], float]:
        latencies: list[float] = []
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*(caller(call, stop, latencies) for _ in range(in_flight)))
        return latencies, time.perf_counter() - start

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        calls: dict[str, Callable[[], Awaitable[object]]] = {}
        call, in_flight = None, 1
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            order = json.loads(line)
            if "warm" in order:
                case, in_flight = order["warm"], int(order.get("in_flight") or 1)
                call = calls.get(case) or calls.setdefault(case, make_call(case))
                await calling(call, in_flight, WARM_UP_SECONDS)
                _answer(ready=True)
                continue
            assert call is not None
            cpu = time.process_time()
            latencies, seconds = await calling(call, in_flight, float(order["seconds"]))
            _measured(latencies, seconds, time.process_time() - cpu)

    asyncio.run(serve())
