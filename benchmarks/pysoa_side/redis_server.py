"""PySOA's side of the Redis benchmarks: the same service, served by PySOA 1.4.9 with its own
command line (runs in the PySOA environment, from this folder):
``python -m redis_server -s redis_server [--fork N]``.

The Redis port comes from ``BENCH_REDIS_PORT``; each server process writes a heartbeat file
at ``BENCH_HEARTBEAT`` (``{{pid}}`` replaced) once it serves.
"""

import os
import sys

from pysoa.server.action import Action
from pysoa.server.server import Server
from pysoa.server.standalone import simple_main

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _cases import CHUNK_THRESHOLD, MAXIMUM_MESSAGE_BYTES


class Ping(Action):
    def run(self, request):
        return {"pong": request.body.get("value")}


class Echo(Action):
    def run(self, request):
        return dict(request.body)


class BenchServer(Server):
    service_name = "bench_pysoa"
    action_class_map = {"ping": Ping, "echo": Echo}


SOA_SERVER_SETTINGS = {
    "transport": {
        "path": "pysoa.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {
                "hosts": [("127.0.0.1", int(os.environ.get("BENCH_REDIS_PORT", "6379")))]
            },
            "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
            "log_messages_larger_than_bytes": MAXIMUM_MESSAGE_BYTES,
            "chunk_messages_larger_than_bytes": CHUNK_THRESHOLD,
        },
    },
    "heartbeat_file": os.environ.get("BENCH_HEARTBEAT"),
    "logging": {"version": 1, "root": {"level": "WARNING"}},
}


if __name__ == "__main__":
    simple_main(lambda: BenchServer)
