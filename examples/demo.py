"""The README's demo: the calculator service and a client, in two processes.

Both use the default transport, a SQLite database that needs no server: the client is not
configured at all, and the service (run by ``servicewire serve``, see
``examples/calculator.py``) only shortens its idle wait and quiets its log. The demo points
the default database at a temporary file (``SERVICEWIRE_SQL_URL``) so that it leaves nothing
behind; without it, both sides would share ``~/.local/state/servicewire/queues.db``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from servicewire import CallActionError, Client

ROOT = Path(__file__).resolve().parent.parent


def call_the_calculator() -> None:
    client = Client({"calculator": {}})
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


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="servicewire-demo-") as directory:
        os.environ["SERVICEWIRE_SQL_URL"] = f"sqlite:///{directory}/queues.db"
        # The service runs in a process of its own, as a service runs in production; the
        # client's requests wait in the queue until it is ready. Its log goes to a file,
        # shown if it fails.
        log_path = Path(directory) / "calculator.log"
        with open(log_path, "wb") as log:
            service = subprocess.Popen(
                [sys.executable, "-m", "servicewire.cli", "serve",
                 "examples.calculator:CalculatorServer", "-s", "examples.calculator"],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            call_the_calculator()
        finally:
            service.terminate()
            status = service.wait(timeout=30)
            if status:
                print(f"The calculator service failed (status {status}):", file=sys.stderr)
                print(log_path.read_text(errors="replace"), file=sys.stderr)


if __name__ == "__main__":
    main()
