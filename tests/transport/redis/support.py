"""Running a real server over Redis in a background thread, and clients for it (shared by
the Redis transport and interoperability tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from servicewire import Client, Server

SERVER_TRANSPORT = "servicewire.transport.redis:RedisServerTransport"
CLIENT_TRANSPORT = "servicewire.transport.redis:RedisClientTransport"


def layer(url: str, **extra: Any) -> dict[str, Any]:
    """Transport settings for the Redis at ``url``, plus ``extra``."""
    return {"backend_layer_kwargs": {"hosts": [url]}, **extra}


@contextmanager
def serving(
    server_class: type[Server], transport_kwargs: dict[str, Any], **settings: Any
) -> Iterator[Server]:
    """Run a server over Redis in a thread until the block ends."""
    kwargs = {"receive_timeout_in_seconds": 0.2, **transport_kwargs}
    server = server_class({"transport": {"path": SERVER_TRANSPORT, "kwargs": kwargs}, **settings})
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutting_down = True
        thread.join(10)
        assert not thread.is_alive(), "the server did not stop"


def make_client(service: str, transport_kwargs: dict[str, Any], **settings: Any) -> Client:
    """A client calling ``service`` over Redis (``settings``: more of its client settings)."""
    transport = {"path": CLIENT_TRANSPORT, "kwargs": transport_kwargs}
    return Client({service: {"transport": transport, **settings}})


def commands_run(client: redis.Redis, name: str) -> int:
    """How many times Redis has run the command ``name`` (``client|reply`` for a
    subcommand) since its statistics were last reset."""
    stats = client.info("commandstats").get(f"cmdstat_{name}")
    return int(stats["calls"]) if stats else 0
