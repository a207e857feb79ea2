"""Fixtures of the Redis transport tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import redis

from servicewire import Server
from tests.transport.redis.services import EchoServer
from tests.transport.redis.support import layer, serving


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the (emptied) test Redis, to look at the queues."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def echo_server(redis_url: str) -> Iterator[Callable[..., Server]]:
    """Start :class:`EchoServer` with extra transport settings: ``echo_server(**kwargs)``."""
    with ExitStack() as stack:

        def start(**transport_kwargs: Any) -> Server:
            return stack.enter_context(serving(EchoServer, layer(redis_url, **transport_kwargs)))

        yield start
