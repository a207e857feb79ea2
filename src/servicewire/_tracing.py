"""Whether to trace: the hook clients and servers call once, when they are built.

Tracing is on when OpenTelemetry's API has been imported and a tracer provider has been set
(``opentelemetry.trace.set_tracer_provider``, or the SDK's auto-configuration), by the time a
client's service handler or a server is built. Then the tracing middleware of
:mod:`servicewire._otel_tracing` go first (outermost) in its middleware. Otherwise nothing
is imported, nothing is added, and no request pays anything.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["TRACE_CONTEXT_KEY", "with_client_tracing", "with_server_tracing"]

TRACE_CONTEXT_KEY = "trace_context"
"""The job context key of the caller's W3C trace context: a dict of the ``traceparent`` and
(when there is one) ``tracestate`` headers. Peers that do not trace (PySOA among them) pass
context keys they do not know along, untouched."""


def _tracer_provider() -> Any:
    # Setting a tracer provider imports opentelemetry.trace; if nothing has, nobody traces.
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider

    provider = trace.get_tracer_provider()
    if isinstance(provider, (ProxyTracerProvider, NoOpTracerProvider)):
        return None
    return provider


def with_client_tracing(service_name: str, middleware: list[Any]) -> list[Any]:
    """``middleware`` of a client's handler of ``service_name``, with tracing first if on."""
    provider = _tracer_provider()
    if provider is None:
        return middleware
    from servicewire._otel_tracing import ClientTracing

    return [ClientTracing(service_name, provider), *middleware]


def with_server_tracing(service_name: str, middleware: list[Any]) -> list[Any]:
    """``middleware`` of the server of ``service_name``, with tracing first if on."""
    provider = _tracer_provider()
    if provider is None:
        return middleware
    from servicewire._otel_tracing import ServerTracing

    return [ServerTracing(service_name, provider), *middleware]
