"""Private service processes for the tests: redis-server, redis-sentinel, and a throwaway
PostgreSQL database.

Each is started on a free loopback port and stopped at the end of the session. When one
cannot be had, the tests that need it are skipped, except under ``CI=true``, where that is a
failure: CI must exercise every transport.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

POSTGRES_URL_VARIABLE = "SERVICEWIRE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def unavailable(reason: str) -> None:
    """Skip the test for want of a service, or fail it under CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


class RedisServer:
    """A private redis-server on a free loopback port; :meth:`restart` keeps the port."""

    def __init__(self, binary: str, directory: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.directory = directory
        self.extra_args = extra_args
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def flush(self) -> None:
        import redis

        redis.Redis(host="127.0.0.1", port=self.port).flushall()


def redis_binary(name: str) -> str | None:
    return shutil.which(name)


@contextmanager
def running_redis(*extra_args: str) -> Iterator[RedisServer]:
    binary = redis_binary("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
        raise AssertionError("unreachable")
    with tempfile.TemporaryDirectory(prefix="servicewire-redis-") as directory:
        server = RedisServer(binary, Path(directory), extra_args)
        server.start()
        try:
            yield server
        finally:
            server.stop()


class RedisSentinel:
    """A private redis-sentinel watching one master."""

    def __init__(self, master_port: int, service_name: str, directory: Path) -> None:
        self.port = free_port()
        self.service_name = service_name
        self.config = directory / f"sentinel-{self.port}.conf"
        self.config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {directory}\n"
            f"sentinel monitor {service_name} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service_name} 1000\n"
            f"sentinel failover-timeout {service_name} 3000\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = redis_binary("redis-sentinel")
        command = [binary, str(self.config)] if binary else None
        if command is None:
            server = redis_binary("redis-server")
            if server is None:
                unavailable("neither redis-sentinel nor redis-server is installed")
                raise AssertionError("unreachable")
            command = [server, str(self.config), "--sentinel"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a throwaway database on the machine's PostgreSQL; yield its SQLAlchemy URL."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed")
        raise AssertionError("unreachable") from None
    admin_url = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)
    name = f"servicewire_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        unavailable(f"PostgreSQL at {admin_url} is not usable: {error}")
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
