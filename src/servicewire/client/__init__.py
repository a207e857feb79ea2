"""The client side: calling services."""

from servicewire.client.aio import AsyncClient
from servicewire.client.client import Client
from servicewire.client.futures import FutureResponse
from servicewire.client.handler import ServiceHandler
from servicewire.client.middleware import ClientMiddleware
from servicewire.client.settings import ClientSettings
from servicewire.client.signing import RequestSigningMiddleware

__all__ = [
    "AsyncClient",
    "Client",
    "ClientMiddleware",
    "ClientSettings",
    "FutureResponse",
    "RequestSigningMiddleware",
    "ServiceHandler",
]
