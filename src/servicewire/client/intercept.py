"""The seam for test doubles: standing in, for a while, for the transport of every handler.

``servicewire.testing`` answers stubbed actions without the service and lets every other
action through. To reach every client, including those made before a stub started (a module's
client, the shared client of a server), each service handler registers itself here when it is
built; an installed :class:`TransportInterceptor` then wraps each handler's transport, and is
asked for settings when a client calls a service it has none for.

Nothing else happens while no interceptor is installed: a handler costs one weak reference,
a request nothing.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from servicewire.client.settings import ClientSettings
    from servicewire.transport.base import AsyncClientTransport, ClientTransport, ReceivedMessage

__all__ = [
    "InterceptedHandler",
    "TransportInterceptor",
    "install_interceptor",
    "settings_for_unconfigured_service",
    "uninstall_interceptor",
]


class TransportInterceptor(Protocol):
    """What stands between handlers and their transports while it is installed."""

    def wrap(self, service_name: str, transport: ClientTransport) -> ClientTransport:
        """The transport a sync handler of ``service_name`` uses in place of ``transport``."""

    def wrap_async(
        self,
        service_name: str,
        transport: AsyncClientTransport,
        deliver: Callable[[ReceivedMessage], None],
    ) -> AsyncClientTransport:
        """The transport an asyncio handler uses in place of ``transport``. ``deliver`` hands
        a reply to the handler at once, as if its reader had received it."""

    def can_unwrap(self, transport: Any) -> bool:
        """Whether a wrapping transport may be removed now (it holds nothing still owed to
        a caller); one that may not stays, and is asked again at the next uninstall."""

    def settings_for_unconfigured_service(self, service_name: str) -> ClientSettings | None:
        """Settings for a service a client has none for, or ``None`` to refuse the call."""


class InterceptedHandler(Protocol):
    """What a handler offers the interceptor: swapping its transport."""

    transport: Any

    def _wrap_transport(self, interceptor: TransportInterceptor) -> None: ...

    def _restore_transport(self, transport: Any) -> None: ...


class _Registry:
    """The handlers alive, the transport each wrapped one had, and the interceptor."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.handlers: weakref.WeakSet[InterceptedHandler] = weakref.WeakSet()
        self.originals: weakref.WeakKeyDictionary[InterceptedHandler, Any] = (
            weakref.WeakKeyDictionary()
        )
        self.interceptor: TransportInterceptor | None = None

    def wrap(self, handler: InterceptedHandler, interceptor: TransportInterceptor) -> None:
        if handler not in self.originals:
            self.originals[handler] = handler.transport
            handler._wrap_transport(interceptor)


_registry = _Registry()


def handler_built(handler: InterceptedHandler) -> None:
    """Called by each handler once its transport exists."""
    with _registry.lock:
        _registry.handlers.add(handler)
        if _registry.interceptor is not None:
            _registry.wrap(handler, _registry.interceptor)


def install_interceptor(interceptor: TransportInterceptor) -> None:
    """Wrap the transport of every handler, now and as they are built, until
    :func:`uninstall_interceptor`. Only one interceptor may be installed at a time."""
    with _registry.lock:
        if _registry.interceptor not in (None, interceptor):
            raise RuntimeError("Another transport interceptor is already installed")
        _registry.interceptor = interceptor
        for handler in list(_registry.handlers):
            _registry.wrap(handler, interceptor)


def uninstall_interceptor(interceptor: TransportInterceptor) -> None:
    """Stop wrapping new handlers and give back each handler its own transport (a wrapping
    transport that still owes a reply stays until a later uninstall)."""
    with _registry.lock:
        if _registry.interceptor is interceptor:
            _registry.interceptor = None
        for handler, original in list(_registry.originals.items()):
            if interceptor.can_unwrap(handler.transport):
                del _registry.originals[handler]
                handler._restore_transport(original)


def settings_for_unconfigured_service(service_name: str) -> ClientSettings | None:
    """What the installed interceptor offers for a service a client has no settings for."""
    interceptor = _registry.interceptor
    if interceptor is None:
        return None
    return interceptor.settings_for_unconfigured_service(service_name)
