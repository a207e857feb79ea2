"""PySOA 1.4.9 processes for the interoperability tests."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.pysoa import pysoa_python
from tests.support.services import RedisServer, unavailable

PYSOA_SIDE = Path(__file__).resolve().parent / "pysoa_side"


def pysoa() -> Path:
    try:
        return pysoa_python()
    except (OSError, subprocess.CalledProcessError) as error:
        unavailable(f"PySOA 1.4.9 cannot be installed: {error}")
        raise AssertionError("unreachable") from None


@contextmanager
def running_pysoa_server(redis_server: RedisServer) -> Iterator[subprocess.Popen[str]]:
    """PySOA's interop service serving over the test Redis, until the block ends."""
    process = subprocess.Popen(
        [str(pysoa()), "service.py", str(redis_server.port)],
        cwd=PYSOA_SIDE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == "serving", f"the PySOA server did not start: {line}"
        yield process
    finally:
        process.terminate()
        process.wait(10)


def run_pysoa_client_checks(redis_server: RedisServer) -> dict[str, Any]:
    """Run ``pysoa_side/client_checks.py``; return its observations."""
    completed = subprocess.run(
        [str(pysoa()), "client_checks.py", str(redis_server.port)],
        cwd=PYSOA_SIDE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return results


@pytest.fixture(scope="module")
def pysoa_server(redis_server: RedisServer) -> Iterator[subprocess.Popen[str]]:
    redis_server.flush()
    with running_pysoa_server(redis_server) as process:
        yield process
