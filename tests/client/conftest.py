"""Fixtures of the client tests over networked transports: the services deployed as server
processes on Redis, SQLite or PostgreSQL, shared by the tests of this package and stopped
after them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.deployments import Deployment
from tests.support.services import RedisServer

RECEIVE = {"receive_timeout_in_seconds": 1}


@pytest.fixture(scope="package")
def redis_deployment(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """math, books, people and relay over the session's Redis."""
    layer = {"backend_layer_kwargs": {"hosts": [redis_server.url]}}
    redis = "servicewire.transport.redis"
    deployment = Deployment(
        "redis",
        tmp_path_factory.mktemp("redis-deployment"),
        {"path": f"{redis}:RedisServerTransport", "kwargs": {**layer, **RECEIVE}},
        {"path": f"{redis}:RedisClientTransport", "kwargs": layer},
        {"queue_full_timeout_in_seconds": 0.1},
    )
    try:
        deployment.start("math", "books", "people", "relay")
        yield deployment
    finally:
        deployment.stop()


def sql_deployment(kind: str, url: str, folder: Path) -> Deployment:
    database = {"url": url, "table_prefix": f"c{os.getpid()}_"}
    sql = "servicewire.transport.sql"
    return Deployment(
        kind,
        folder,
        {"path": f"{sql}:SqlServerTransport", "kwargs": {**database, **RECEIVE}},
        {"path": f"{sql}:SqlClientTransport", "kwargs": database},
        {},
    )


@pytest.fixture(scope="package")
def sqlite_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """math, books and people over a SQLite file."""
    folder = tmp_path_factory.mktemp("sqlite-deployment")
    deployment = sql_deployment("sqlite", f"sqlite:///{folder}/queues.db", folder)
    try:
        deployment.start("math", "books", "people")
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="package")
def postgres_deployment(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """math over the session's PostgreSQL database."""
    deployment = sql_deployment("postgresql", postgres_url, tmp_path_factory.mktemp("pg"))
    try:
        deployment.start("math")
        yield deployment
    finally:
        deployment.stop()
