"""A Sentinel failover while a server serves: the master dies, Sentinel promotes its replica,
and the server and its callers go on with the new master."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from servicewire import TransportError
from tests.support.processes import wait_until
from tests.support.services import RedisSentinel, RedisServer, running_redis
from tests.transport.redis.services import EchoServer
from tests.transport.redis.support import make_client, serving

SERVICE = "swfailover"


def replication_is_up(replica: RedisServer) -> bool:
    info = redis.Redis(port=replica.port).info("replication")
    return info.get("master_link_status") == "up"


@pytest.fixture
def watched_pair() -> Iterator[tuple[RedisServer, RedisServer, RedisSentinel]]:
    """A master, its replica, and a Sentinel that knows both."""
    with (
        running_redis() as master,
        running_redis() as replica,
        tempfile.TemporaryDirectory(prefix="sw-failover-") as folder,
    ):
        redis.Redis(port=replica.port).replicaof("127.0.0.1", master.port)
        wait_until(lambda: replication_is_up(replica), "the replica to follow the master")
        sentinel = RedisSentinel(master.port, SERVICE, Path(folder))
        sentinel.start()
        try:
            watcher = redis.Redis(port=sentinel.port)
            wait_until(
                lambda: len(watcher.sentinel_slaves(SERVICE)) == 1,
                "the Sentinel to learn of the replica",
                30,
            )
            yield master, replica, sentinel
        finally:
            sentinel.stop()


def settings(sentinel: RedisSentinel) -> dict[str, Any]:
    return {
        "backend_type": "redis.sentinel",
        "backend_layer_kwargs": {
            "hosts": [("127.0.0.1", sentinel.port)],
            "sentinel_services": [SERVICE],
            "sentinel_failover_retries": 5,
        },
    }


@pytest.mark.parametrize("delivery", ["at_most_once", "at_least_once"])
def test_serving_goes_on_with_the_promoted_replica_after_the_master_dies(
    watched_pair: tuple[RedisServer, RedisServer, RedisSentinel], delivery: str
) -> None:
    master, replica, sentinel = watched_pair
    transport = settings(sentinel)
    client = make_client("echo", transport)
    with serving(EchoServer, {**transport, "delivery_guarantee": delivery}):
        assert client.call_action("echo", "echo", {"before": 1}, timeout=5).body == {"before": 1}

        master.stop()

        def answered() -> Any:
            try:
                return client.call_action("echo", "echo", {"after": 2}, timeout=2).body
            except TransportError:
                return None  # during the election: a typed error, never a hang

        assert wait_until(answered, "a call answered through the new master", 60) == {"after": 2}
    address = redis.Redis(port=sentinel.port).sentinel_get_master_addr_by_name(SERVICE)
    assert int(address[1]) == replica.port
    client.close()
