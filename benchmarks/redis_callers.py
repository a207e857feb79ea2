"""A client process of the Redis benchmarks (see ``_timed.py`` for how it is driven):
``python redis_callers.py <system> <redis port> [--payloads DIR]``, calling the cases of
``_cases.py`` it is told to.

Systems: ``servicewire`` (a ``Client``), ``servicewire-async`` (one ``AsyncClient``, with
the calls in flight it is told), and the floors ``redis-py`` and ``raw`` (see
``redis_floor.py``, with the captured payloads of ``--payloads``), and two leaner ways
of using redis-py (``redis-py-connection``, ``redis-py-pipelined``: ``bench_redis_paths.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _cases import MAXIMUM_MESSAGE_BYTES, case_call
from _timed import closed_loop, in_flight_loop

SYSTEMS = (
    "servicewire",
    "servicewire-async",
    "redis-py",
    "raw",
    "redis-py-connection",
    "redis-py-pipelined",
)
SERVICE = "bench"


def client_settings(port: int, service: str = SERVICE) -> dict[str, Any]:
    """Client settings of ``service`` over the private Redis at ``port``."""
    transport = {
        "path": "servicewire.transport.redis:RedisClientTransport",
        "kwargs": {
            "backend_layer_kwargs": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
            "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
            "log_messages_larger_than_bytes": MAXIMUM_MESSAGE_BYTES,
        },
    }
    return {service: {"transport": transport}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("port", type=int)
    parser.add_argument("--payloads", type=Path)
    parser.add_argument("--server", help="the floor server that answers (redis-py or raw)")
    arguments = parser.parse_args()
    if arguments.system == "servicewire":
        from servicewire import Client

        client = Client(client_settings(arguments.port))
        closed_loop(lambda case: case_call(client, SERVICE, case))
    elif arguments.system == "servicewire-async":
        from servicewire import AsyncClient

        async_client = AsyncClient(client_settings(arguments.port))
        in_flight_loop(lambda case: case_call(async_client, SERVICE, case))
    else:
        from redis_floor import floor_call

        floor, port, payloads = arguments.system, arguments.port, arguments.payloads
        server = arguments.server
        closed_loop(lambda case: floor_call(floor, port, payloads, case, server))


if __name__ == "__main__":
    main()
