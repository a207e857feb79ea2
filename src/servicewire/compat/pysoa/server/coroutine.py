"""PySOA's ``pysoa.server.coroutine``."""

from servicewire.server.coroutine import (
    CoroutineMiddleware,
    DefaultCoroutineMiddleware,
    MiddlewareCoroutine,
)

__all__ = ["CoroutineMiddleware", "DefaultCoroutineMiddleware", "MiddlewareCoroutine"]
