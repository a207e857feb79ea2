"""PySOA's side of the Redis benchmark: the same service, served by PySOA 1.4.9 (runs in the
PySOA environment): ``python redis_server.py <redis port>``."""

import logging
import sys

from pysoa.server.action import Action
from pysoa.server.server import Server


class Ping(Action):
    def run(self, request):
        return {"pong": request.body.get("value")}


class Echo(Action):
    def run(self, request):
        return dict(request.body)


class BenchServer(Server):
    service_name = "bench_pysoa"
    action_class_map = {"ping": Ping, "echo": Echo}


def main():
    settings = {
        "transport": {
            "path": "pysoa.common.transport.redis_gateway.server:RedisServerTransport",
            "kwargs": {
                "backend_type": "redis.standard",
                "backend_layer_kwargs": {"hosts": [("127.0.0.1", int(sys.argv[1]))]},
            },
        },
        "logging": {"version": 1, "root": {"level": "WARNING"}},
    }
    logging.basicConfig(level=logging.WARNING)
    server = BenchServer(BenchServer.settings_class(settings))
    print("serving", flush=True)
    server.run()


if __name__ == "__main__":
    main()
