"""The HTTP/JSON gateway: servicewire services for callers outside Python.

An ASGI application (Starlette) that forwards HTTP requests with JSON bodies to the actions
it exposes, over any client transport, with an OpenAPI 3.1 document and an explorer page.
Install it with ``pip install 'servicewire[gateway]'``; run it with ``servicewire gateway``
or any ASGI server. See ``docs/gateway.md``.
"""

from servicewire.gateway.app import create_app
from servicewire.gateway.auth import http_signature
from servicewire.gateway.openapi import openapi_document
from servicewire.gateway.settings import GatewaySettings, parse_exposure

__all__ = ["GatewaySettings", "create_app", "http_signature", "openapi_document", "parse_exposure"]
