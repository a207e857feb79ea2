"""Fixtures of the gateway tests: ``shop`` and ``vault`` deployed over Redis and over
SQLite (started once for the package), and a gateway in front of either."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.deployments import Deployment
from tests.support.services import RedisServer


def deployed(kind: str, folder: Path, transport: str, kwargs: dict[str, Any]) -> Deployment:
    """``shop`` and ``vault`` started on ``<transport>ServerTransport`` and reached through
    ``<transport>ClientTransport`` (``transport`` as ``module:Prefix``), with the same
    ``kwargs`` on both sides; the servers wait for work at most a second at a time."""
    receive = {"receive_timeout_in_seconds": 1}
    deployment = Deployment(
        kind,
        folder,
        {"path": f"{transport}ServerTransport", "kwargs": {**kwargs, **receive}},
        {"path": f"{transport}ClientTransport", "kwargs": kwargs},
        {},
    )
    try:
        deployment.start()
    except BaseException:
        deployment.stop()
        raise
    return deployment


@pytest.fixture(scope="package")
def redis_gateway_deployment(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    layer = {"backend_layer_kwargs": {"hosts": [redis_server.url]}}
    folder = tmp_path_factory.mktemp("gateway-redis")
    deployment = deployed("redis", folder, "servicewire.transport.redis:Redis", layer)
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="package")
def sqlite_gateway_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("gateway-sqlite")
    database = {"url": f"sqlite:///{folder}/queues.db"}
    deployment = deployed("sqlite", folder, "servicewire.transport.sql:Sql", database)
    try:
        yield deployment
    finally:
        deployment.stop()
