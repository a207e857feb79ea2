"""The Memcached cache that keeps its connections between jobs, on a private memcached."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import override_settings

from servicewire import Action, EnrichedActionRequest
from servicewire.server.django import DjangoServer, PersistentMemcacheCache
from tests.support.local import serving
from tests.support.services import free_port, unavailable
from tests.support.waiting import wait_until


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def memcached() -> Iterator[str]:
    """A private memcached on a free loopback port; its ``host:port``."""
    binary = shutil.which("memcached")
    if binary is None:
        unavailable("memcached is not installed")
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-u", "nobody", "-m", "16"]
    )
    try:
        wait_until(lambda: accepts_connections(port), "memcached accepts connections")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


class ConnectionCounter:
    """Reads how many connections memcached has accepted, over one connection of its own
    (opened once, so that reading does not count)."""

    def __init__(self, location: str) -> None:
        from pymemcache.client.base import Client

        host, port = location.split(":")
        self.client = Client((host, int(port)))

    def __call__(self) -> int:
        return int(self.client.stats()[b"total_connections"])


@pytest.fixture(scope="module")
def connections_made(memcached: str) -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter(memcached)
    counter()
    yield counter
    counter.client.close()


class Count(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        cache = caches["memcached"]
        cache.add("count", 0)
        return {"count": cache.incr("count")}


class CountingService(DjangoServer):
    service_name = "counting"
    action_class_map = {"count": Count}


def caches_with(backend: str, location: str) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "servicewire.server.django.cache.ProcessScopedMemoryCache"},
        "memcached": {"BACKEND": backend, "LOCATION": location, "KEY_PREFIX": backend},
    }


def jobs_and_connections(
    backend: str, location: str, connections_made: ConnectionCounter
) -> tuple[list[int], int]:
    """Three jobs of a Django server whose cache is ``backend``: their counts, and how many
    connections to memcached they took."""
    before = connections_made()
    with override_settings(CACHES=caches_with(backend, location)):
        with serving(CountingService) as client:
            counts = [client.call_action("counting", "count").body["count"] for _ in range(3)]
    return counts, connections_made() - before


def test_the_connection_lasts_from_job_to_job(
    memcached: str, connections_made: ConnectionCounter
) -> None:
    counts, connections = jobs_and_connections(
        "servicewire.server.django.cache.PersistentMemcacheCache", memcached, connections_made
    )
    assert counts == [1, 2, 3]
    assert connections == 1


def test_djangos_own_backend_reconnects_for_every_job(
    memcached: str, connections_made: ConnectionCounter
) -> None:
    counts, connections = jobs_and_connections(
        "django.core.cache.backends.memcached.PyMemcacheCache", memcached, connections_made
    )
    assert counts == [1, 2, 3]
    assert connections == 3


def test_closing_for_shutdown_disconnects(
    memcached: str, connections_made: ConnectionCounter
) -> None:
    cache = PersistentMemcacheCache(memcached, {})
    cache.set("key", "value")
    made = connections_made()
    cache.close()
    assert cache.get("key") == "value"
    assert connections_made() == made
    cache.close(for_shutdown=True)
    assert cache.get("key") == "value"
    assert connections_made() == made + 1
    cache.close(for_shutdown=True)
