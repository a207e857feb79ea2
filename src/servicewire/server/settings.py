"""Server settings."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from typing_extensions import NotRequired, TypedDict

from servicewire.client.settings import ClientSettings
from servicewire.logging import DEFAULT_LOGGING
from servicewire.metrics import MetricsRecorder, NoOpMetricsRecorder
from servicewire.server.auxiliary.processors import AuxProcessor
from servicewire.server.coroutine import CoroutineMiddleware, DefaultCoroutineMiddleware
from servicewire.server.invokers import Invoker
from servicewire.server.middleware import ServerMiddleware
from servicewire.server.policies import Policy
from servicewire.server.signing_settings import RequestSigningSettings
from servicewire.settings import ClassReference, LogLevel, Settings, class_reference
from servicewire.transport.base import ServerTransport

__all__ = ["DEFAULT_LOGGING", "DEFAULT_SERVER_TRANSPORT", "HarakiriSettings", "ServerSettings"]


class HarakiriSettings(BaseModel):
    """Stopping a process whose job runs too long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: Annotated[StrictInt, Field(ge=0)] = 300
    """Seconds one job may run before it is interrupted; 0 disables harakiri."""
    shutdown_grace: Annotated[StrictInt, Field(gt=0)] = 30
    """Seconds to wait for a clean exit after an interrupt before forcing one."""


class _LoggerConfig(TypedDict):
    level: NotRequired[LogLevel]
    filters: NotRequired[list[StrictStr]]
    handlers: NotRequired[list[StrictStr]]
    propagate: NotRequired[StrictBool]


class _FormatterConfig(TypedDict, total=False):
    format: StrictStr
    datefmt: StrictStr
    style: StrictStr


class LoggingConfig(TypedDict, total=False):
    """The ``logging.config.dictConfig`` schema (version 1)."""

    version: Annotated[StrictInt, Field(ge=1, le=1)]
    formatters: dict[str, _FormatterConfig]
    filters: dict[str, dict[str, Any]]
    handlers: dict[str, dict[str, Any]]
    loggers: dict[str, _LoggerConfig]
    root: _LoggerConfig
    incremental: StrictBool
    disable_existing_loggers: StrictBool


def _noop_metrics() -> ClassReference:
    return ClassReference(path=NoOpMetricsRecorder)


def _default_coroutine_middleware() -> list[ClassReference]:
    return [ClassReference(path=DefaultCoroutineMiddleware)]


DEFAULT_SERVER_TRANSPORT = "servicewire.transport.sql:SqlServerTransport"
"""The transport of a server configured without one: the SQL transport, whose default
database is a SQLite file shared by the processes of one user (see
``servicewire.transport.sql.default_database_url``)."""


def _default_transport() -> ClassReference:
    return ClassReference(path=DEFAULT_SERVER_TRANSPORT)


class ServerSettings(Settings):
    """Settings of a server, given as a plain dict.

    ``transport`` defaults to :data:`DEFAULT_SERVER_TRANSPORT` (``None``: no transport, for a
    server only used in-process). ``logging``, when given, replaces :data:`DEFAULT_LOGGING`
    entirely (it is not merged).
    Successful requests are logged at ``request_log_success_level`` (default ``DEBUG``) and
    failed ones at ``request_log_error_level`` (default ``INFO``).
    """

    label: ClassVar[str] = "server settings"

    transport: class_reference(ServerTransport) | None = Field(  # type: ignore[valid-type]
        default_factory=_default_transport
    )
    middleware: list[class_reference(ServerMiddleware)] = Field(  # type: ignore[valid-type]
        default_factory=list
    )
    metrics: class_reference(MetricsRecorder) = Field(  # type: ignore[valid-type]
        default_factory=_noop_metrics
    )
    client_routing: dict[str, ClientSettings] = Field(default_factory=dict)
    logging: LoggingConfig | None = None
    harakiri: HarakiriSettings = Field(default_factory=HarakiriSettings)
    heartbeat_file: StrictStr | None = None
    request_log_success_level: LogLevel = "DEBUG"
    request_log_error_level: LogLevel = "INFO"
    extra_fields_to_redact: frozenset[StrictStr] = frozenset()
    coroutine_middleware: list[class_reference(CoroutineMiddleware)] = Field(  # type: ignore[valid-type]
        default_factory=_default_coroutine_middleware
    )
    coroutine_shutdown_timeout: Annotated[float, Field(ge=0)] = 10.0
    """Seconds ``teardown`` waits for coroutines still running before cancelling them."""
    auxiliary_processors: dict[str, class_reference(AuxProcessor)] = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    """Auxiliary processors by name; ``"default"`` (when not given: a ``SyncAuxProcessor``)
    runs the auxiliary actions that name no other."""
    auxiliary_shutdown_timeout: Annotated[float, Field(ge=0)] = 10.0
    """Seconds ``teardown`` gives the auxiliary processors, all together, to finish or hand
    off their pending work."""

    # Concurrency and call policies (see docs/concurrency-and-security.md).
    workers: Annotated[StrictInt, Field(ge=1)] = 1
    """Jobs one process runs at once, each in a worker thread of its own (1: one at a time,
    in the serving thread)."""
    invokers: dict[str, class_reference(Invoker)] = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    """The invoker of each action named, replacing its class's ``invoker`` attribute."""
    policies: dict[str, class_reference(Policy)] = Field(  # type: ignore[valid-type]
        default_factory=dict
    )
    """The call policy of each action named, replacing its class's ``policy`` attribute."""
    default_policy: class_reference(Policy) | None = None  # type: ignore[valid-type]
    """The policy of the actions that have none (``status`` and ``introspect`` excepted),
    replacing ``Server.default_policy``."""
    request_signing: RequestSigningSettings | None = None
    """The keys (and limits) with which ``AllowSignedRequests`` checks signed requests."""
