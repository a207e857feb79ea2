"""PySOA's side of the local-transport benchmark (runs in the PySOA environment)."""

import json
import sys
import time

from pysoa.client.client import Client
from pysoa.server.action import Action
from pysoa.server.server import Server


class Ping(Action):
    def run(self, request):
        return {"pong": request.body.get("value")}


class PingServer(Server):
    service_name = "ping"
    action_class_map = {"ping": Ping}


def main():
    count = int(sys.argv[1])
    client = Client(
        {
            "ping": {
                "transport": {
                    "path": "pysoa.common.transport.local:LocalClientTransport",
                    "kwargs": {"server_class": PingServer, "server_settings": {}},
                }
            }
        }
    )
    for _ in range(200):
        client.call_action("ping", "ping", {"value": 1})
    start = time.perf_counter()
    for _ in range(count):
        client.call_action("ping", "ping", {"value": 1})
    print(json.dumps({"rate": count / (time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
