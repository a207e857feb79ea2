"""PySOA 1.4.9 in a virtual environment of its own, for interoperability tests and benchmarks.

Its pins (redis < 4, msgpack 0.6) clash with ours, so it lives outside the project's
environment, created once and cached (``SERVICEWIRE_PYSOA_VENV`` overrides the place).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PYSOA_VERSION = "1.4.9"


def pysoa_venv() -> Path:
    default = Path.home() / ".cache" / "servicewire" / f"pysoa-{PYSOA_VERSION}"
    return Path(os.environ.get("SERVICEWIRE_PYSOA_VENV", default))


def pysoa_python() -> Path:
    """The interpreter of the PySOA environment, creating the environment if needed."""
    venv = pysoa_venv()
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        base_python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"pysoa=={PYSOA_VERSION}"],
            check=True,
        )
        marker.write_text(PYSOA_VERSION)
    return python
