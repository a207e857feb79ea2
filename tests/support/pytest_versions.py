"""Running a test module under another major version of pytest than the project's own.

The other pytest lives in a small virtual environment of its own, created once and cached
outside the repository (``SERVICEWIRE_PYTEST_VENVS`` overrides the place), holding nothing but
that pytest. Everything else (servicewire, its dependencies, its entry points, the other
plugins) comes from the running environment, added after the small one's packages, so that
its pytest is the one imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

# Runs the other environment's pytest with the running environment's packages behind its own.
_BOOTSTRAP = (
    "import site, sys\n"
    "for directory in sys.argv.pop(1).split(':'):\n"
    "    site.addsitedir(directory)\n"
    "import pytest\n"
    "sys.exit(pytest.console_main())\n"
)


def _cache() -> Path:
    default = Path.home() / ".cache" / "servicewire"
    return Path(os.environ.get("SERVICEWIRE_PYTEST_VENVS", default))


def pytest_python(major: int) -> Path:
    """The interpreter of an environment holding pytest ``major``.x, created if needed."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    venv = _cache() / f"pytest-{major}-python{version}"
    python = venv / "bin" / "python"
    requirement = f"pytest>={major},<{major + 1}"
    marker = venv / ".installed"
    if not marker.exists() or marker.read_text() != requirement:
        venv.parent.mkdir(parents=True, exist_ok=True)
        base_python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", requirement],
            check=True,
            capture_output=True,
        )
        marker.write_text(requirement)
    return python


def pytest_command(major: int) -> list[str]:
    """The command that runs pytest ``major``.x on the running environment's packages."""
    if pytest.version_tuple[0] == major:
        return [sys.executable, "-m", "pytest"]
    packages = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    return [str(pytest_python(major)), "-c", _BOOTSTRAP, ":".join(packages)]
