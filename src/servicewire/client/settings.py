"""Client settings (one set per service the client calls)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from servicewire.client.middleware import ClientMiddleware
from servicewire.metrics import MetricsRecorder, NoOpMetricsRecorder
from servicewire.settings import ClassReference, Settings, class_reference
from servicewire.transport.base import ClientTransport

__all__ = ["ClientSettings"]


def _noop_metrics() -> ClassReference:
    return ClassReference(path=NoOpMetricsRecorder)


class ClientSettings(Settings):
    """How to reach one service: its ``transport``, ``middleware`` and ``metrics``."""

    label: ClassVar[str] = "client settings"

    transport: class_reference(ClientTransport)  # type: ignore[valid-type]
    middleware: list[class_reference(ClientMiddleware)] = Field(  # type: ignore[valid-type]
        default_factory=list
    )
    metrics: class_reference(MetricsRecorder) = Field(  # type: ignore[valid-type]
        default_factory=_noop_metrics
    )
