"""Session-wide fixtures: private Redis and PostgreSQL for the tests that need them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.services import RedisServer, postgres_database, running_redis


@pytest.fixture(scope="session", autouse=True)
def private_default_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Servers and clients built with the default transport use a database of the session's,
    never the user's own (child processes inherit it)."""
    variable = "SERVICEWIRE_SQL_URL"
    previous = os.environ.get(variable)
    path = tmp_path_factory.mktemp("default-transport") / "queues.db"
    os.environ[variable] = f"sqlite:///{path}"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous


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
