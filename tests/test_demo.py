"""The README's first command runs the demo: results and an error response are printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_prints_results_and_an_error_response() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    output = completed.stdout
    assert "add(2, 3)    -> {'result': 5.0}" in output
    assert "DIVISION_BY_ZERO" in output
    assert "INVALID" in output
