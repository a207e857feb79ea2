"""The servicewire side of the Redis benchmarks: the service, and its settings module (the
Redis URL comes from ``BENCH_REDIS_URL``; each server process writes a heartbeat file at
``BENCH_HEARTBEAT``, ``{{pid}}`` replaced, once it serves). Run by the benchmarks as
``servicewire serve redis_service:BenchServer -s redis_service [--fork N]``."""

from __future__ import annotations

import os
from typing import Any

from _cases import CHUNK_THRESHOLD, MAXIMUM_MESSAGE_BYTES

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
        "kwargs": {
            "backend_layer_kwargs": {"hosts": [os.environ.get("BENCH_REDIS_URL", "")]},
            "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
            "log_messages_larger_than_bytes": MAXIMUM_MESSAGE_BYTES,
            "chunk_messages_larger_than_bytes": CHUNK_THRESHOLD,
        },
    },
    "heartbeat_file": os.environ.get("BENCH_HEARTBEAT"),
    "logging": {"version": 1, "root": {"level": "WARNING"}},
}
