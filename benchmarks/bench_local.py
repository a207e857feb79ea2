"""Local (in-process) transport: ``call_action`` of a trivial action, servicewire vs PySOA.

Run: ``.venv/bin/python benchmarks/bench_local.py [--rounds 5] [--count 20000] [--write]``
"""

from __future__ import annotations

import argparse

from _harness import Comparison, interleave, rate, report, run_pysoa

from servicewire import Action, Client, EnrichedActionRequest, Server
from servicewire.types import Body


class Ping(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return {"pong": request.body.get("value")}


class PingServer(Server):
    service_name = "ping"
    action_class_map = {"ping": Ping}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--write", action="store_true", help="save the report in results/")
    arguments = parser.parse_args()

    client = Client(
        {
            "ping": {
                "transport": {
                    "path": "servicewire.transport.local:LocalClientTransport",
                    "kwargs": {"server_class": PingServer, "server_settings": {}},
                }
            }
        }
    )

    def call() -> object:
        return client.call_action("ping", "ping", {"value": 1})

    rate(call, 200)
    ours, theirs = interleave(
        arguments.rounds,
        lambda: rate(call, arguments.count),
        lambda: run_pysoa("local.py", str(arguments.count)),
    )
    report(
        "Local transport",
        [Comparison("call_action, trivial action", "calls/s", ours, theirs)],
        write="local.md" if arguments.write else "",
    )


if __name__ == "__main__":
    main()
