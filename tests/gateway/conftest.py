"""Fixtures of the gateway tests: ``shop`` and ``vault`` deployed over Redis and over
SQLite (started once for the package), and a gateway in front of either."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.deployments import Deployment
from tests.support.services import RedisServer

RECEIVE = {"receive_timeout_in_seconds": 1}


@pytest.fixture(scope="package")
def redis_gateway_deployment(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    layer = {"backend_layer_kwargs": {"hosts": [redis_server.url]}}
    redis = "servicewire.transport.redis"
    deployment = Deployment(
        "redis",
        tmp_path_factory.mktemp("gateway-redis"),
        {"path": f"{redis}:RedisServerTransport", "kwargs": {**layer, **RECEIVE}},
        {"path": f"{redis}:RedisClientTransport", "kwargs": layer},
    )
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="package")
def sqlite_gateway_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("gateway-sqlite")
    database = {"url": f"sqlite:///{folder}/queues.db"}
    sql = "servicewire.transport.sql"
    deployment = Deployment(
        "sqlite",
        folder,
        {"path": f"{sql}:SqlServerTransport", "kwargs": {**database, **RECEIVE}},
        {"path": f"{sql}:SqlClientTransport", "kwargs": database},
    )
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(params=["redis", "sqlite"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    deployment: Deployment = request.getfixturevalue(f"{request.param}_gateway_deployment")
    return deployment
