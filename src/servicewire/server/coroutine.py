"""Coroutine middleware: wrappers around coroutines scheduled with ``request.run_coroutine``."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

__all__ = ["CoroutineMiddleware", "DefaultCoroutineMiddleware", "MiddlewareCoroutine"]

MiddlewareCoroutine = TypeVar("MiddlewareCoroutine", bound=Coroutine[Any, Any, Any])


class CoroutineMiddleware:
    """Wraps coroutines handed to ``request.run_coroutine``.

    :meth:`before_run_coroutine` runs synchronously in the calling thread, in configured
    order. :meth:`coroutine` wraps the coroutine; it is applied in reverse configured order so
    that the resulting call stack reads in configured order.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = None

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} takes no settings, got {sorted(kwargs)}")

    def before_run_coroutine(self) -> None:
        """Called in the calling thread before the coroutine is handed to the event loop."""

    def coroutine(self, coroutine: MiddlewareCoroutine) -> MiddlewareCoroutine:
        """Return a coroutine that awaits ``coroutine`` (default: ``coroutine`` itself)."""
        return coroutine


class DefaultCoroutineMiddleware(CoroutineMiddleware):
    """Configured first by default; keeps the request's logging context inside coroutines."""
