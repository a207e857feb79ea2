"""PySOA's ``pysoa.test.stub_service``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from servicewire.client.settings import ClientSettings
from servicewire.settings import ClassReference, class_reference
from servicewire.testing.stub_server import (
    StubClient,
    StubClientTransport,
    StubServer,
)
from servicewire.testing.stub_server import (
    StubClientTransportSettings as StubClientTransportSchema,
)
from servicewire.testing.stubs import stub_action
from servicewire.transport.base import ClientTransport

__all__ = [
    "StubClient",
    "StubClientSettings",
    "StubClientTransport",
    "StubClientTransportSchema",
    "StubServer",
    "stub_action",
]


def _stub_transport() -> ClassReference:
    return ClassReference(path=StubClientTransport)


class StubClientSettings(ClientSettings):
    """Client settings whose ``transport`` defaults to :class:`StubClientTransport`."""

    label: ClassVar[str] = "stub client settings"

    transport: class_reference(ClientTransport) = Field(  # type: ignore[valid-type]
        default_factory=_stub_transport
    )
