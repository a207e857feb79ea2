"""The migration guide's one-line import change, applied to a copy of PySOA code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PYSOA_CODE = Path(__file__).resolve().parent / "pysoa_code"

# The guide's command, verbatim: PySOA's package, then Conformity's.
SED_SCRIPT = (
    r"s/\bpysoa\b/servicewire.compat.pysoa/g; s/\bconformity\b/servicewire.compat.conformity/g"
)


def rewritten_copy(destination: Path) -> Path:
    """``pysoa_code`` copied to ``destination`` with ``sed`` run over its Python files."""
    target = destination / "pysoa_code"
    shutil.copytree(PYSOA_CODE, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in sorted(target.rglob("*.py")):
        subprocess.run(["sed", "-i", SED_SCRIPT, str(path)], check=True)
    return target
