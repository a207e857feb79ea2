"""The Redis transports' settings are validated with the client and server settings."""

from __future__ import annotations

from typing import Any

import pytest

from servicewire import ClientSettings, InvalidSettings, ServerSettings
from servicewire.serializer import JSONSerializer
from servicewire.transport.redis import (
    RedisClientTransport,
    RedisClientTransportSettings,
    RedisServerTransport,
    RedisServerTransportSettings,
)
from servicewire.transport.redis.protocol import ProtocolVersion

CLIENT = "servicewire.transport.redis:RedisClientTransport"
SERVER = "servicewire.transport.redis:RedisServerTransport"


def client_settings(**kwargs: Any) -> ClientSettings:
    return ClientSettings.from_dict({"transport": {"path": CLIENT, "kwargs": kwargs}})


def server_settings(**kwargs: Any) -> ServerSettings:
    return ServerSettings.from_dict({"transport": {"path": SERVER, "kwargs": kwargs}})


def test_defaults_are_pysoas() -> None:
    client = RedisClientTransportSettings()
    server = RedisServerTransportSettings()
    assert client.backend_type == "redis.standard"
    assert (client.message_expiry_in_seconds, client.queue_capacity) == (60, 10000)
    assert (client.queue_full_retries, client.receive_timeout_in_seconds) == (10, 5)
    assert client.maximum_message_size_in_bytes == client.log_messages_larger_than_bytes == 102400
    assert server.maximum_message_size_in_bytes == server.log_messages_larger_than_bytes == 256000
    assert server.chunk_messages_larger_than_bytes == -1
    assert client.protocol_version is ProtocolVersion.VERSION_3


def test_every_reference_key_is_accepted() -> None:
    settings = client_settings(
        backend_type="redis.sentinel",
        backend_layer_kwargs={
            "hosts": [("sentinel-1", 26379), "sentinel-2"],
            "redis_port": 26380,
            "redis_db": 1,
            "connection_kwargs": {"socket_timeout": 3},
            "sentinel_services": ["main"],
            "sentinel_kwargs": {"socket_timeout": 1},
            "sentinel_failover_retries": 3,
        },
        message_expiry_in_seconds=30,
        queue_capacity=100,
        queue_full_retries=2,
        receive_timeout_in_seconds=2,
        maximum_message_size_in_bytes=5000,
        log_messages_larger_than_bytes=0,
        protocol_version=2,
        default_serializer_config={"path": "servicewire.serializer:JSONSerializer"},
    )
    assert settings.transport.object is RedisClientTransport
    server = server_settings(
        chunk_messages_larger_than_bytes=102400, maximum_message_size_in_bytes=512000
    )
    assert server.transport.object is RedisServerTransport


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend_type": "redis.cluster"}, "kwargs.backend_type"),
        ({"queue_capacity": 0}, "kwargs.queue_capacity"),
        ({"queue_capacity": "10"}, "kwargs.queue_capacity"),
        ({"receive_timeout_in_seconds": 0}, "kwargs.receive_timeout_in_seconds"),
        ({"protocol_version": 4}, "kwargs.protocol_version"),
        ({"no_such_key": 1}, "kwargs.no_such_key: unknown key"),
        ({"backend_layer_kwargs": {"port": 1}}, "kwargs.backend_layer_kwargs.port: unknown key"),
        ({"backend_layer_kwargs": {"hosts": [("h", "1")]}}, "kwargs.backend_layer_kwargs.hosts"),
        ({"backend_layer_kwargs": {"hosts": "localhost"}}, "kwargs.backend_layer_kwargs.hosts"),
        (
            {"backend_layer_kwargs": {"sentinel_services": ["a"]}},
            "sentinel_services is only used with backend_type 'redis.sentinel'",
        ),
        (
            {"backend_type": "redis.sentinel", "backend_layer_kwargs": {"hosts": ["redis://x"]}},
            "Sentinel hosts are (host, port) pairs",
        ),
        (
            {"backend_layer_kwargs": {"connection_kwargs": {"decode_responses": True}}},
            "decode_responses cannot be used",
        ),
        ({"default_serializer_config": {"path": "json:dumps"}}, "Serializer"),
    ],
)
def test_bad_client_settings_are_named_at_start_up(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSettings, match="transport") as caught:
        client_settings(**kwargs)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_messages_larger_than_bytes": 1000}, "must be at least 102400"),
        (
            {"chunk_messages_larger_than_bytes": 102400},
            "must be at least 5 times chunk_messages_larger_than_bytes",
        ),
        ({"protocol_version": 3}, "unknown key"),
    ],
)
def test_bad_server_settings_are_named_at_start_up(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        server_settings(**kwargs)
    assert message in str(caught.value)


def test_transport_built_directly_validates_its_keyword_arguments() -> None:
    with pytest.raises(InvalidSettings, match="RedisClientTransport: queue_capacity"):
        RedisClientTransport("echo", queue_capacity=-1)


def test_default_serializer_config_builds_the_serializer() -> None:
    transport = RedisClientTransport(
        "echo", default_serializer_config={"path": "servicewire.serializer:JSONSerializer"}
    )
    assert isinstance(transport.codec.default_serializer, JSONSerializer)
