"""PySOA's ``pysoa.common.transport.local``.

PySOA's ``*Schema`` classes are the Conformity schemas of the transports' keyword
arguments; here they are the pydantic models servicewire validates those arguments with.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from servicewire.transport.local import LocalClientTransport, LocalServerTransport
from servicewire.transport.local import LocalTransportSettings as LocalClientTransportSchema

__all__ = [
    "LocalClientTransport",
    "LocalClientTransportSchema",
    "LocalServerTransport",
    "LocalServerTransportSchema",
]


class LocalServerTransportSchema(BaseModel):
    """The keyword arguments of :class:`LocalServerTransport`: none."""

    model_config = ConfigDict(extra="forbid")
