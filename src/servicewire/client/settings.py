"""Client settings (one set per service the client calls)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from servicewire.client.middleware import ClientMiddleware
from servicewire.metrics import MetricsRecorder, NoOpMetricsRecorder
from servicewire.settings import ClassReference, Settings, class_reference
from servicewire.transport.base import ClientTransport

__all__ = ["DEFAULT_CLIENT_TRANSPORT", "ClientSettings"]


DEFAULT_CLIENT_TRANSPORT = "servicewire.transport.sql:SqlClientTransport"
"""The transport of a service configured without one: the SQL transport, whose default
database is a SQLite file shared by the processes of one user (see
``servicewire.transport.sql.default_database_url``)."""


def _noop_metrics() -> ClassReference:
    return ClassReference(path=NoOpMetricsRecorder)


def _default_transport() -> ClassReference:
    return ClassReference(path=DEFAULT_CLIENT_TRANSPORT)


class ClientSettings(Settings):
    """How to reach one service: its ``transport`` (default: :data:`DEFAULT_CLIENT_TRANSPORT`),
    ``middleware`` and ``metrics``."""

    label: ClassVar[str] = "client settings"

    transport: class_reference(ClientTransport) = Field(  # type: ignore[valid-type]
        default_factory=_default_transport
    )
    middleware: list[class_reference(ClientMiddleware)] = Field(  # type: ignore[valid-type]
        default_factory=list
    )
    metrics: class_reference(MetricsRecorder) = Field(  # type: ignore[valid-type]
        default_factory=_noop_metrics
    )
