"""What a server's plugins see of it: the interface that policies, auxiliary processors,
auxiliary actions and event listeners are handed.

They are given the server itself (``Server`` implements :class:`ServerInterface`); typing
them against this protocol rather than the ``Server`` class keeps ``server/`` free of
import circles: the settings name the plugin classes, so the plugins may not name the
settings' module, nor ``Server`` (which is built from those settings).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from servicewire.client.client import Client
    from servicewire.client.settings import ClientSettings
    from servicewire.metrics import MetricsRecorder
    from servicewire.server.request import EnrichedActionRequest
    from servicewire.server.signing_settings import RequestSigningSettings
    from servicewire.types import Context

from servicewire.types import ActionResponse, JobResponse

__all__ = ["ServerInterface", "SettingsView"]

_Response = TypeVar("_Response", ActionResponse, JobResponse)


class SettingsView(Protocol):
    """The server settings plugins read (a ``ServerSettings`` has them all)."""

    @property
    def client_routing(self) -> Mapping[str, ClientSettings]: ...

    @property
    def extra_fields_to_redact(self) -> Set[str]: ...

    @property
    def request_signing(self) -> RequestSigningSettings | None: ...


class ServerInterface(Protocol):
    """The public face of a server, as its plugins use it."""

    @property
    def service_name(self) -> str: ...

    @property
    def settings(self) -> SettingsView: ...

    @property
    def metrics(self) -> MetricsRecorder: ...

    def make_client(
        self, context: Context, extra_context: Context | None = None, **kwargs: Any
    ) -> Client:
        """A client for calling other services from within a job (``Server.make_client``)."""

    def run_local_action(
        self,
        request: EnrichedActionRequest,
        *,
        raise_action_errors: bool = True,
        is_caller_error: bool = False,
    ) -> ActionResponse:
        """Run another action of the service directly (``request.call_local_action``)."""

    def handle_unhandled_exception(
        self,
        exception: Exception,
        response_type: type[_Response],
        variables: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> _Response:
        """The ``SERVER_ERROR`` response for an unexpected exception, logged."""
