"""Reaching Redis: URLs (TCP, TLS, Unix socket), passwords and ACL users, several hosts and
Sentinel, each against real servers."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from servicewire import errors
from servicewire.transport.redis import AsyncRedisClientTransport
from servicewire.transport.redis.backend import RedisBackend, describe_host
from servicewire.transport.redis.settings import RedisClientTransportSettings
from tests.support.services import RedisSentinel, RedisServer, free_port, running_redis, unavailable
from tests.support.waiting import wait_until
from tests.transport.redis.services import EchoServer
from tests.transport.redis.support import make_client, serving


def call_echo(transport_kwargs: dict[str, Any], server_kwargs: dict[str, Any] | None = None) -> Any:
    """One echo call through a server and a client using these settings."""
    with serving(EchoServer, server_kwargs or transport_kwargs):
        client = make_client("echo", transport_kwargs)
        try:
            return client.call_action("echo", "echo", {"v": 1}, timeout=5).body
        finally:
            client.close()


# --- URLs and credentials -------------------------------------------------------------------


def test_redis_url_with_a_database_number_selects_that_database(
    redis_server: RedisServer,
) -> None:
    redis_server.flush()
    url = f"redis://127.0.0.1:{redis_server.port}/3"
    client = make_client("echo", {"backend_layer_kwargs": {"hosts": [url]}})
    client.send_request("echo", [{"action": "echo"}])
    # A send returns once its push is written; Redis runs it a moment later.
    selected = redis.Redis(port=redis_server.port, db=3)
    wait_until(lambda: selected.llen("pysoa:service.echo") == 1, "the request in database 3")
    assert redis.Redis(port=redis_server.port, db=0).llen("pysoa:service.echo") == 0


def test_redis_db_and_redis_port_shortcuts_apply_to_host_names(redis_server: RedisServer) -> None:
    redis_server.flush()
    layer = {"hosts": ["127.0.0.1"], "redis_port": redis_server.port, "redis_db": 2}
    client = make_client("echo", {"backend_layer_kwargs": layer})
    client.send_request("echo", [{"action": "echo"}])
    selected = redis.Redis(port=redis_server.port, db=2)
    wait_until(lambda: selected.llen("pysoa:service.echo") == 1, "the request in database 2")


@pytest.fixture
def acl_user(redis_server: RedisServer) -> Iterator[tuple[str, str]]:
    name, password = f"user{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = redis.Redis(port=redis_server.port)
    admin.execute_command("ACL", "SETUSER", name, "on", f">{password}", "~*", "&*", "+@all")
    yield name, password
    admin.execute_command("ACL", "DELUSER", name)


def test_acl_user_and_password_in_the_url(
    redis_server: RedisServer, acl_user: tuple[str, str]
) -> None:
    redis_server.flush()
    name, password = acl_user
    url = f"redis://{name}:{password}@127.0.0.1:{redis_server.port}/0"
    assert call_echo({"backend_layer_kwargs": {"hosts": [url]}}) == {"v": 1}


def test_acl_user_and_password_in_connection_kwargs(
    redis_server: RedisServer, acl_user: tuple[str, str]
) -> None:
    redis_server.flush()
    name, password = acl_user
    layer = {
        "hosts": [("127.0.0.1", redis_server.port)],
        "connection_kwargs": {"username": name, "password": password},
    }
    assert call_echo({"backend_layer_kwargs": layer}) == {"v": 1}


def test_wrong_password_is_a_connection_error(
    redis_server: RedisServer, acl_user: tuple[str, str]
) -> None:
    url = f"redis://{acl_user[0]}:wrong@127.0.0.1:{redis_server.port}/0"
    client = make_client("echo", {"backend_layer_kwargs": {"hosts": [url]}})
    with pytest.raises(errors.ConnectionError):
        client.call_action("echo", "echo", {}, timeout=2)


def test_host_descriptions_never_show_passwords() -> None:
    assert (
        describe_host("redis://alice:s3cret@example.com:6380/2", 6379)
        == "redis://alice@example.com:6380/2"
    )
    assert describe_host(("example.com", 6380), 6379) == "example.com:6380"
    assert describe_host("example.com", 6379) == "example.com:6379"


@pytest.fixture(scope="module")
def unix_socket_redis() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sw-unix-") as directory:
        path = Path(directory) / "redis.sock"
        with running_redis("--unixsocket", str(path), "--unixsocketperm", "700"):
            yield path


def test_unix_socket_url(unix_socket_redis: Path) -> None:
    redis.Redis(unix_socket_path=str(unix_socket_redis)).flushall()
    assert call_echo({"backend_layer_kwargs": {"hosts": [f"unix://{unix_socket_redis}"]}}) == {
        "v": 1
    }


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[tuple[int, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl is needed to make a certificate for the TLS test")
    with tempfile.TemporaryDirectory(prefix="sw-tls-") as directory:
        folder = Path(directory)
        subprocess.run(
            [
                str(openssl), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        tls_port = free_port()
        with running_redis(
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(folder / "cert.pem"),
            "--tls-key-file", str(folder / "key.pem"),
            "--tls-ca-cert-file", str(folder / "cert.pem"),
            "--tls-auth-clients", "no",
        ):  # fmt: skip
            yield tls_port, folder / "cert.pem"


def test_rediss_url_speaks_tls(tls_redis: tuple[int, Path]) -> None:
    port, certificate = tls_redis
    layer = {
        "hosts": [f"rediss://127.0.0.1:{port}/0"],
        "connection_kwargs": {"ssl_ca_certs": str(certificate)},
    }
    assert call_echo({"backend_layer_kwargs": layer}) == {"v": 1}


def test_tls_with_an_untrusted_certificate_is_refused(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    client = make_client(
        "echo", {"backend_layer_kwargs": {"hosts": [f"rediss://127.0.0.1:{port}/0"]}}
    )
    with pytest.raises(errors.ConnectionError):
        client.call_action("echo", "echo", {}, timeout=2)


# --- several hosts --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


def test_requests_go_round_robin_over_the_hosts(
    redis_server: RedisServer, second_redis: RedisServer
) -> None:
    redis_server.flush()
    second_redis.flush()
    hosts = [("127.0.0.1", redis_server.port), ("127.0.0.1", second_redis.port)]
    client = make_client("echo", {"backend_layer_kwargs": {"hosts": hosts}})
    for _ in range(6):
        client.send_request("echo", [{"action": "echo"}])
    queues = [redis.Redis(port=port) for _, port in hosts]
    wait_until(
        lambda: [queue.llen("pysoa:service.echo") for queue in queues] == [3, 3],
        "three requests on each host",
    )


def test_calls_over_several_hosts_route_replies_to_the_callers_host(
    redis_server: RedisServer, second_redis: RedisServer
) -> None:
    redis_server.flush()
    second_redis.flush()
    layer = {
        "hosts": [("127.0.0.1", redis_server.port), ("127.0.0.1", second_redis.port)],
    }
    with serving(EchoServer, {"backend_layer_kwargs": layer}):
        client = make_client("echo", {"backend_layer_kwargs": layer})
        bodies = [client.call_action("echo", "echo", {"i": i}, timeout=5).body for i in range(8)]
    assert bodies == [{"i": i} for i in range(8)]


def test_reply_host_matches_between_client_and_server_backends() -> None:
    settings = RedisClientTransportSettings.model_validate(
        {"backend_layer_kwargs": {"hosts": ["a", "b", "c"]}}
    )
    backend = RedisBackend(settings)
    key = "pysoa:service.echo.0123!000000000001"
    assert backend.host_count == 3
    assert backend.reply_host(key) == 2
    assert backend.hosts == ["a:6379", "b:6379", "c:6379"]


# --- Sentinel -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentinel() -> Iterator[RedisSentinel]:
    with running_redis() as master, tempfile.TemporaryDirectory(prefix="sw-sentinel-") as folder:
        watcher = RedisSentinel(master.port, "swmaster", Path(folder))
        watcher.start()
        try:
            yield watcher
        finally:
            watcher.stop()


def sentinel_settings(watcher: RedisSentinel, **layer: Any) -> dict[str, Any]:
    return {
        "backend_type": "redis.sentinel",
        "backend_layer_kwargs": {"hosts": [("127.0.0.1", watcher.port)], **layer},
    }


def test_sentinel_with_named_services(sentinel: RedisSentinel) -> None:
    assert call_echo(sentinel_settings(sentinel, sentinel_services=["swmaster"])) == {"v": 1}


def test_sentinel_discovers_the_masters_it_watches(sentinel: RedisSentinel) -> None:
    settings = RedisClientTransportSettings.model_validate(sentinel_settings(sentinel))
    backend = RedisBackend(settings)
    assert backend.hosts == ["Sentinel master swmaster"]
    assert call_echo(sentinel_settings(sentinel)) == {"v": 1}


def test_asyncio_transport_through_sentinel(sentinel: RedisSentinel) -> None:
    settings = sentinel_settings(sentinel)

    async def call() -> Any:
        transport = AsyncRedisClientTransport("echo", **settings)
        try:
            job = {
                "control": {"continue_on_error": False},
                "context": {"correlation_id": "c", "switches": []},
                "actions": [{"action": "echo", "body": {"via": "sentinel"}}],
            }
            await transport.send_request_message(1, {}, job)
            return await transport.receive_response_message(5)
        finally:
            await transport.aclose()

    with serving(EchoServer, settings):
        body = asyncio.run(call()).body
    assert body["actions"][0]["body"] == {"via": "sentinel"}


def test_sentinel_unknown_master_fails_after_the_failover_retries(
    sentinel: RedisSentinel,
) -> None:
    settings = sentinel_settings(
        sentinel, sentinel_services=["nosuch"], sentinel_failover_retries=2
    )
    client = make_client("echo", settings)
    with pytest.raises(errors.ConnectionError, match=r"nosuch|master"):
        client.call_action("echo", "echo", {}, timeout=2)


def test_no_reachable_sentinel_fails_with_a_clear_error() -> None:
    settings = RedisClientTransportSettings.model_validate(
        {
            "backend_type": "redis.sentinel",
            "backend_layer_kwargs": {"hosts": [("127.0.0.1", free_port())]},
        }
    )
    with pytest.raises(errors.ConnectionError, match="No Sentinel could list the masters"):
        RedisBackend(settings)
