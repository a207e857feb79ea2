"""The seam for test doubles: one hook that, while it is installed, every handler follows.

httpx tests a client by passing it a ``MockTransport``. servicewire's stubs must also reach
clients that no test builds: a module's client, made at import; the client a server gives
its actions; a client made before the stub started. So the double cannot be passed in to
each client. It is passed in to one documented place instead: :func:`install_transport_hook`.

While a :class:`TransportHook` is installed, each service handler (sync and asyncio), at its
next send, asks the hook for the transport to use in place of its own (the stubs return one
that wraps the handler's own transport, answers the stubbed actions and passes everything
else on). At its first send after the hook is removed, the handler goes back to its own
transport, unless the hook says the wrapping one still owes a reply (then it asks again at
the following send). A client asks the hook for settings for a service it has none for.

Nothing keeps a list of clients or handlers. While no hook is installed, a handler's cost is
one identity check per send (the hook installed is still the one it follows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from servicewire.client.settings import ClientSettings
    from servicewire.transport.base import AsyncClientTransport, ClientTransport, ReceivedMessage

__all__ = [
    "TransportHook",
    "hook_point",
    "install_transport_hook",
    "settings_for_unconfigured_service",
    "uninstall_transport_hook",
]


class TransportHook(Protocol):
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
        """Whether a transport :meth:`wrap` made may be set aside now (it holds nothing still
        owed to a caller)."""

    def settings_for_unconfigured_service(self, service_name: str) -> ClientSettings | None:
        """Settings for a service a client has none for, or ``None`` to refuse the call."""


class _HookPoint:
    """Where the installed hook is kept; handlers read :attr:`hook` at each send."""

    __slots__ = ("hook",)

    def __init__(self) -> None:
        self.hook: TransportHook | None = None


hook_point = _HookPoint()


def install_transport_hook(hook: TransportHook) -> None:
    """Have every handler use the transports ``hook`` gives, from its next send on, until
    :func:`uninstall_transport_hook`. Only one hook may be installed at a time."""
    if hook_point.hook not in (None, hook):
        raise RuntimeError("Another transport hook is already installed")
    hook_point.hook = hook


def uninstall_transport_hook(hook: TransportHook) -> None:
    """Remove ``hook`` (if it is the one installed): each handler goes back to its own
    transport at its next send that ``hook.can_unwrap`` allows."""
    if hook_point.hook is hook:
        hook_point.hook = None


def settings_for_unconfigured_service(service_name: str) -> ClientSettings | None:
    """What the installed hook offers for a service a client has no settings for."""
    hook = hook_point.hook
    if hook is None:
        return None
    return hook.settings_for_unconfigured_service(service_name)
