"""Stub servers, and the transport and client that run them in-process.

A :class:`StubServer` is a real server whose actions are defined inline, each answering a
fixed body or fixed errors; requests to it go through the whole server code path
(validation of the job, middleware, logging, unknown actions). :class:`StubClientTransport`
runs one in the caller's thread, like the local transport, and :class:`StubClient` is a client
whose services are all stub servers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from servicewire.client.client import Client
from servicewire.client.settings import ClientSettings
from servicewire.errors import ActionError
from servicewire.metrics import MetricsRecorder, NoOpMetricsRecorder
from servicewire.server.action import Action
from servicewire.server.request import EnrichedActionRequest
from servicewire.server.server import Server
from servicewire.server.settings import ServerSettings
from servicewire.testing.contract import contracts
from servicewire.testing.errors import stub_errors
from servicewire.transport.local import LocalClientTransport
from servicewire.types import Body, Error

__all__ = ["StubClient", "StubClientTransport", "StubServer", "make_stub_action_class"]

ErrorsArgument = Iterable[Error | Mapping[str, Any]] | None


def _camel_case(name: str) -> str:
    """``update_foo`` -> ``UpdateFoo`` (a name that is a valid identifier)."""
    words = [word for word in re.split(r"[^0-9A-Za-z]+", name) if word]
    camel = "".join(word[:1].upper() + word[1:] for word in words) or "Stub"
    return camel if camel[0].isalpha() else f"Action{camel}"


class _StubAction(Action):
    """Answers ``errors`` if there are any, else a copy of ``body``."""

    body: ClassVar[Body] = {}
    errors: ClassVar[list[Error]] = []

    def run(self, request: EnrichedActionRequest) -> Body:
        if self.errors:
            raise ActionError(self.errors)
        return copy.deepcopy(self.body)


def make_stub_action_class(
    action: str, body: Mapping[str, Any] | None = None, errors: ErrorsArgument = None
) -> type[Action]:
    """An action class answering ``errors`` (if any) or ``body``, named in camel case from
    ``action`` (``update_foo`` -> ``UpdateFoo``)."""
    name = _camel_case(action)
    return type(
        name,
        (_StubAction,),
        {
            "body": dict(body or {}),
            "errors": stub_errors(errors or ()),
            "description": f"A stub of the action {action!r}.",
            "__module__": __name__,
            "__qualname__": name,
        },
    )


class StubServer(Server):
    """A server whose actions are defined inline with :meth:`stub_action` (or given as
    ``action_class_map`` in a subclass). Without settings it has no transport."""

    service_name: ClassVar[str] = "stub"
    action_class_map: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        settings: ServerSettings | Mapping[str, Any] | None = None,
        forked_process_id: int | None = None,
    ) -> None:
        if settings is None:
            settings = {"transport": None}
        super().__init__(settings, forked_process_id)

    def stub_action(
        self, action: str, body: Mapping[str, Any] | None = None, errors: ErrorsArgument = None
    ) -> None:
        """Define (or redefine) ``action`` on this server: it answers ``errors`` if given,
        else ``body``. If the real service's contract is registered, ``body`` is checked
        against the real action's ``response_schema`` now."""
        action_class = make_stub_action_class(action, body, errors)
        if not action_class.errors:  # type: ignore[attr-defined]
            contract = contracts.contract_for(self.service_name, action, (), None, None)
            if contract is not None:
                contract.check_response(action_class.body)  # type: ignore[attr-defined]
        # This server's own map, leaving the class's untouched; the server dispatches through
        # the factories it builds from it.
        self.action_class_map = {**self.action_class_map, action: action_class}  # type: ignore[misc]
        self._calls.define(action, action_class)


class _StubbedActionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    body: dict[str, Any] = {}
    errors: list[Error | dict[str, Any]] = []


class StubClientTransportSettings(BaseModel):
    """``action_map``: ``{action_name: {"body": {...}} or {"errors": [...]}}``."""

    model_config = ConfigDict(extra="forbid")

    action_map: dict[str, _StubbedActionSettings] = {}


class StubClientTransport(LocalClientTransport):
    """A local transport running a :class:`StubServer` for ``service_name`` with the actions
    of ``action_map`` (``{action_name: {"body": ..., "errors": ...}}``).

    The asyncio client has no twin of it: with ``AsyncClient``, stub with ``stub_action``.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = StubClientTransportSettings
    async_transport_class: ClassVar[str | None] = None

    def __init__(
        self,
        service_name: str = "test",
        metrics: MetricsRecorder | None = None,
        action_map: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        server_class = type(
            f"Stub{_camel_case(service_name)}Server",
            (StubServer,),
            {
                "service_name": service_name,
                "action_class_map": {
                    name: make_stub_action_class(name, spec.get("body"), spec.get("errors"))
                    for name, spec in (action_map or {}).items()
                },
                "__module__": __name__,
            },
        )
        super().__init__(
            service_name,
            metrics or NoOpMetricsRecorder(),
            server_class=server_class,
            server_settings={"transport": None},
        )

    def stub_action(
        self, action: str, body: Mapping[str, Any] | None = None, errors: ErrorsArgument = None
    ) -> None:
        """Define (or redefine) ``action`` on the stub server."""
        self.server.stub_action(action, body, errors)


def _stub_transport_settings(actions: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "transport": {
            "path": f"{__name__}:StubClientTransport",
            "kwargs": {"action_map": dict(actions or {})},
        }
    }


class StubClient(Client):
    """A client whose services are stub servers, built from ``service_action_map``
    (``{service_name: {action_name: {"body": ..., "errors": ...}}}``); other keyword
    arguments go to :class:`~servicewire.Client`. Calls go through the real client and server
    code paths."""

    def __init__(
        self,
        service_action_map: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            {
                service: _stub_transport_settings(actions)
                for service, actions in (service_action_map or {}).items()
            },
            **kwargs,
        )

    def stub_action(
        self,
        service_name: str,
        action: str,
        body: Mapping[str, Any] | None = None,
        errors: ErrorsArgument = None,
    ) -> None:
        """Define (or redefine) ``action`` of ``service_name``, adding the service if this
        client has no stub server for it yet."""
        if service_name not in self.settings:
            self.settings[service_name] = ClientSettings.from_dict(_stub_transport_settings({}))
        transport: Any = self._get_handler(service_name).transport
        transport.stub_action(action, body, errors)
