"""Session-wide fixtures: private Redis and PostgreSQL for the tests that need them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import RedisServer, postgres_database, running_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session (tests flush it as they need)."""
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's redis-server, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for the session (SQLAlchemy URL)."""
    with postgres_database() as url:
        yield url
