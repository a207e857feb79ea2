"""The service of the Redis fault tests, run as real processes: its actions write down, in
a shared log, each execution's start and end, so that a test can count lost and repeated
work after killing servers."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from servicewire import Action, EnrichedActionRequest, Server
from servicewire.types import Body


def note(log: str, line: str) -> None:
    """Append one line to ``log`` in a single write (lines of processes never mix)."""
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode() + b"\n")
    finally:
        os.close(descriptor)


class Record(Action):
    """Notes ``start <pid> <n>``, works ``pause`` seconds, notes ``done <pid> <n>``."""

    def run(self, request: EnrichedActionRequest) -> Body:
        log, number = str(request.body["log"]), int(request.body["n"])
        note(log, f"start {os.getpid()} {number}")
        time.sleep(float(request.body.get("pause", 0)))
        note(log, f"done {os.getpid()} {number}")
        return {"pid": os.getpid(), "n": number}


class Hold(Action):
    """Leaves ``holding-<pid>`` in ``folder``, then waits (up to 30 s) for ``release``."""

    def run(self, request: EnrichedActionRequest) -> Body:
        folder = Path(str(request.body["folder"]))
        (folder / f"holding-{os.getpid()}").touch()
        deadline = time.monotonic() + 30
        while not (folder / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"pid": os.getpid()}


class RecorderServer(Server):
    service_name = "recorder"
    action_class_map: Any = {"record": Record, "hold": Hold}


def runs(log: Path) -> list[tuple[str, int, int]]:
    """The ``(event, pid, n)`` lines of a log (none if it does not exist yet)."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        event, pid, number = line.split()
        found.append((event, int(pid), int(number)))
    return found
