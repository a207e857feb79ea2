"""Helpers for the Redis transport tests: transport settings for the session's redis-server,
and a real server answering in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import redis

from servicewire import Client, Server
from tests.transport.redis.services import EchoServer

SERVER_TRANSPORT = "servicewire.transport.redis:RedisServerTransport"
CLIENT_TRANSPORT = "servicewire.transport.redis:RedisClientTransport"


def layer(url: str, **extra: Any) -> dict[str, Any]:
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


def make_client(service: str, transport_kwargs: dict[str, Any]) -> Client:
    return Client({service: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": transport_kwargs}}})


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the (emptied) test Redis, to look at the queues."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def echo_server(redis_url: str) -> Iterator[Callable[..., Any]]:
    """Start :class:`EchoServer` with extra transport settings: ``echo_server(**kwargs)``."""
    with ExitStack() as stack:

        def start(**transport_kwargs: Any) -> Server:
            return stack.enter_context(serving(EchoServer, layer(redis_url, **transport_kwargs)))

        yield start
