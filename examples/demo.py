"""The README's demo: a client calling the calculator service."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.calculator import CalculatorServer
from servicewire import CallActionError, Client


def main() -> None:
    client = Client(
        {
            "calculator": {
                "transport": {
                    "path": "servicewire.transport.local:LocalClientTransport",
                    "kwargs": {"server_class": CalculatorServer, "server_settings": {}},
                }
            }
        }
    )
    print("add(2, 3)    ->", client.call_action("calculator", "add", {"a": 2, "b": 3}).body)
    print("divide(7, 2) ->", client.call_action("calculator", "divide", {"a": 7, "b": 2}).body)
    response = client.call_actions(
        "calculator",
        [{"action": "add", "body": {"a": 1, "b": 1}}, {"action": "add", "body": {"a": 2, "b": 2}}],
    )
    print("one job, two actions ->", [action.body for action in response.actions])
    try:
        client.call_action("calculator", "divide", {"a": 1, "b": 0})
    except CallActionError as error:
        print("divide(1, 0) -> error:", error)
    try:
        client.call_action("calculator", "add", {"a": "two", "b": 3})
    except CallActionError as error:
        print("add('two', 3) -> error:", error)


if __name__ == "__main__":
    main()
