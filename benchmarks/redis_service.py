"""The servicewire side of the Redis benchmarks: the service, and its settings module (the
Redis URL comes from ``BENCH_REDIS_URL``; each server process writes a heartbeat file at
``BENCH_HEARTBEAT``, ``{{pid}}`` replaced, once it serves). Run by the benchmarks as
``servicewire serve redis_service:BenchServer -s redis_service [--fork N]``."""

from __future__ import annotations

import os
from typing import Any

from servicewire import Action, EnrichedActionRequest, Server
from servicewire.types import Body


class Ping(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return {"pong": request.body.get("value")}


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return dict(request.body)


class BenchServer(Server):
    service_name = "bench"
    action_class_map: Any = {"ping": Ping, "echo": Echo}


SOA_SERVER_SETTINGS = {
    "transport": {
        "path": "servicewire.transport.redis:RedisServerTransport",
        "kwargs": {"backend_layer_kwargs": {"hosts": [os.environ.get("BENCH_REDIS_URL", "")]}},
    },
    "heartbeat_file": os.environ.get("BENCH_HEARTBEAT"),
    "logging": {"version": 1, "root": {"level": "WARNING"}},
}
