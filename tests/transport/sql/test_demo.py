"""The README's demo: a service and its caller in two processes over SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT


def test_demo_calls_the_service_in_another_process_and_cleans_up(tmp_path: Path) -> None:
    temporary, home = tmp_path / "tmp", tmp_path / "home"
    temporary.mkdir()
    home.mkdir()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SERVICEWIRE_")
    }
    environment.update(TMPDIR=str(temporary), HOME=str(home))
    environment.pop("XDG_STATE_HOME", None)

    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "add(2, 3)    -> {'result': 5.0}",
        "divide(7, 2) -> {'result': 3.5}",
        "one job, two actions -> [{'result': 2.0}, {'result': 4.0}]",
        "divide(1, 0) -> error: Error calling action(s): divide: DIVISION_BY_ZERO: b must not be 0"
        " (field b)",
        "add('two', 3) -> error: Error calling action(s): add: INVALID: Input should be a valid"
        " number (field a)",
    ]
    assert list(temporary.iterdir()) == []
    assert list(home.iterdir()) == []
