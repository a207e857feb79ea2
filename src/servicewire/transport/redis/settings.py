"""Settings of the Redis transports, validated when the client or server settings are.

The keys are PySOA's (``backend_type``, ``backend_layer_kwargs``, ``queue_capacity``, ...),
plus ``queue_full_timeout_in_seconds``, which bounds the total time a sender waits for a full
queue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from servicewire.errors import InvalidSettings
from servicewire.serializer.base import Serializer
from servicewire.serializer.msgpack import MsgpackSerializer
from servicewire.settings import ClassReference, class_reference, format_validation_error
from servicewire.transport.redis.protocol import ProtocolVersion

__all__ = [
    "BACKEND_TYPE_SENTINEL",
    "BACKEND_TYPE_STANDARD",
    "MINIMUM_CHUNK_THRESHOLD_IN_BYTES",
    "BackendLayerSettings",
    "RedisClientTransportSettings",
    "RedisServerTransportSettings",
    "RedisTransportSettings",
    "is_redis_url",
    "validate_settings",
]

BACKEND_TYPE_STANDARD: Final = "redis.standard"
BACKEND_TYPE_SENTINEL: Final = "redis.sentinel"
MINIMUM_CHUNK_THRESHOLD_IN_BYTES = 102400
DEFAULT_CLIENT_MAXIMUM_MESSAGE_BYTES = 102400
DEFAULT_SERVER_MAXIMUM_MESSAGE_BYTES = 256000

_URL = re.compile(r"^(unix|rediss?)://")

PositiveSeconds = Annotated[StrictInt | StrictFloat, Field(gt=0)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


def is_redis_url(host: object) -> bool:
    """Whether a ``hosts`` entry is a ``redis://``, ``rediss://`` or ``unix://`` URL."""
    return isinstance(host, str) and _URL.match(host) is not None


class BackendLayerSettings(BaseModel):
    """Where the Redis servers are and how to connect to them.

    ``hosts``: ``(host, port)`` pairs, host names (port ``redis_port``) or URLs
    (``redis://[user:password@]host:port/db``, ``rediss://`` for TLS, ``unix:///path``).
    With Sentinel, the hosts are the Sentinels (default port 26379) and
    ``sentinel_services`` the masters to use (all those the Sentinels know, by default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hosts: list[tuple[StrictStr, Port] | StrictStr] = Field(default_factory=list)
    redis_port: Port | None = None
    redis_db: Annotated[StrictInt, Field(ge=0)] | None = None
    connection_kwargs: dict[str, Any] = Field(default_factory=dict)
    sentinel_services: list[StrictStr] | None = None
    sentinel_kwargs: dict[str, Any] = Field(default_factory=dict)
    sentinel_failover_retries: Annotated[StrictInt, Field(ge=0)] = 0

    @field_validator("connection_kwargs", "sentinel_kwargs")
    @classmethod
    def _bytes_responses(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("decode_responses"):
            raise ValueError("decode_responses cannot be used: messages are bytes")
        return value


class RedisTransportSettings(BaseModel):
    """The settings both Redis transports take."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    backend_type: Literal["redis.standard", "redis.sentinel"] = BACKEND_TYPE_STANDARD
    backend_layer_kwargs: BackendLayerSettings = Field(default_factory=BackendLayerSettings)
    message_expiry_in_seconds: PositiveSeconds = 60
    queue_capacity: Annotated[StrictInt, Field(ge=1)] = 10000
    queue_full_retries: Annotated[StrictInt, Field(ge=0)] = 10
    queue_full_timeout_in_seconds: PositiveSeconds = 10
    receive_timeout_in_seconds: PositiveSeconds = 5
    maximum_message_size_in_bytes: Annotated[StrictInt, Field(ge=1)] = (
        DEFAULT_CLIENT_MAXIMUM_MESSAGE_BYTES
    )
    log_messages_larger_than_bytes: Annotated[StrictInt, Field(ge=0)] = (
        DEFAULT_CLIENT_MAXIMUM_MESSAGE_BYTES
    )
    default_serializer_config: class_reference(Serializer) = Field(  # type: ignore[valid-type]
        default_factory=lambda: ClassReference(path=MsgpackSerializer)
    )

    @model_validator(mode="after")
    def _backend_keys(self) -> Self:
        layer = self.backend_layer_kwargs
        if self.backend_type == BACKEND_TYPE_STANDARD:
            for key in ("sentinel_services", "sentinel_kwargs", "sentinel_failover_retries"):
                if key in layer.model_fields_set:
                    raise ValueError(
                        f"backend_layer_kwargs.{key} is only used with backend_type "
                        f"{BACKEND_TYPE_SENTINEL!r}"
                    )
        else:
            for host in layer.hosts:
                if is_redis_url(host):
                    raise ValueError(
                        f"backend_layer_kwargs.hosts: {host!r}: Sentinel hosts are (host, port) "
                        "pairs or host names, not URLs"
                    )
        return self


class RedisClientTransportSettings(RedisTransportSettings):
    """The settings of :class:`~servicewire.transport.redis.RedisClientTransport` and its
    asyncio twin: those of both transports plus ``protocol_version`` (1, 2 or 3)."""

    protocol_version: ProtocolVersion = ProtocolVersion.VERSION_3


class RedisServerTransportSettings(RedisTransportSettings):
    """The settings of :class:`~servicewire.transport.redis.RedisServerTransport`: those of
    both transports plus ``chunk_messages_larger_than_bytes`` (-1, the default, disables
    chunking; otherwise at least 102400, with ``maximum_message_size_in_bytes`` at least five
    times larger), and the delivery settings ``delivery_guarantee``,
    ``heartbeat_timeout_in_seconds`` and ``max_attempts``."""

    maximum_message_size_in_bytes: Annotated[StrictInt, Field(ge=1)] = (
        DEFAULT_SERVER_MAXIMUM_MESSAGE_BYTES
    )
    log_messages_larger_than_bytes: Annotated[StrictInt, Field(ge=0)] = (
        DEFAULT_SERVER_MAXIMUM_MESSAGE_BYTES
    )
    chunk_messages_larger_than_bytes: StrictInt = -1
    delivery_guarantee: Literal["at_most_once", "at_least_once"] = "at_most_once"
    """``"at_most_once"`` (PySOA's): a request is popped off the queue, and lost if its
    server dies with it. ``"at_least_once"``: it is moved into the server's processing list
    and removed once finished; a server's reaper gives back the requests of servers whose
    heartbeat stopped (see :mod:`servicewire.transport.redis.delivery`)."""
    heartbeat_timeout_in_seconds: PositiveSeconds = 10
    """At least once: a server silent this long is taken for dead, and its requests are
    delivered again. It beats three times per timeout."""
    max_attempts: Annotated[StrictInt, Field(ge=1)] = 5
    """At least once: deliveries of a request whose server died each time before it becomes a
    dead letter."""

    @model_validator(mode="after")
    def _chunking(self) -> Self:
        threshold = self.chunk_messages_larger_than_bytes
        if threshold < 0:
            return self
        if threshold < MINIMUM_CHUNK_THRESHOLD_IN_BYTES:
            raise ValueError(
                f"chunk_messages_larger_than_bytes must be at least "
                f"{MINIMUM_CHUNK_THRESHOLD_IN_BYTES} (or -1 to disable chunking), not {threshold}"
            )
        if self.maximum_message_size_in_bytes < 5 * threshold:
            raise ValueError(
                f"maximum_message_size_in_bytes ({self.maximum_message_size_in_bytes}) must be "
                f"at least 5 times chunk_messages_larger_than_bytes ({threshold})"
            )
        return self


_Model = TypeVar("_Model", bound=BaseModel)


def validate_settings(model: type[_Model], kwargs: Mapping[str, Any], owner: type) -> _Model:
    """Validate a transport's keyword arguments; ``InvalidSettings`` names each bad key."""
    try:
        return model.model_validate(dict(kwargs))
    except ValidationError as error:
        raise InvalidSettings(
            f"Invalid settings for {owner.__qualname__}: {format_validation_error(error)}"
        ) from None
