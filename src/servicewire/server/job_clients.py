"""The clients a server's jobs call other services with (``request.client``)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

from servicewire.client.client import Client
from servicewire.client.settings import ClientSettings
from servicewire.types import Context

__all__ = ["JobClients"]


class JobClients:
    """Makes the clients of one server's jobs, from its ``client_routing`` settings.

    Clients made without constructor arguments share one set of connections (service
    handlers and transports), built on first use and closed by :meth:`close`.
    """

    def __init__(
        self, service_name: str, client_class: type[Client], routing: Mapping[str, ClientSettings]
    ) -> None:
        self.service_name = service_name
        self.client_class = client_class
        self.routing: dict[str, ClientSettings] = dict(routing)
        self._shared: Client | None = None
        self._lock = threading.Lock()

    def make(self, context: Context, extra_context: Context | None, **kwargs: Any) -> Client:
        """See ``Server.make_client``."""
        context = dict(context)
        # The job's caller called this service; the calls made here name their own call site.
        context.pop("caller", None)
        if extra_context:
            context.update(extra_context)
        context["calling_service"] = self.service_name
        if kwargs:
            return self.client_class(self.routing, context=context, **kwargs)
        shared = self._shared
        if shared is None:
            with self._lock:
                if self._shared is None:
                    self._shared = self.client_class(self.routing)
                shared = self._shared
        # A shallow copy shares the handlers (and their lock) but not the context.
        client = copy.copy(shared)
        client.context = context
        return client

    def close(self) -> None:
        """Close the shared connections (a later client opens new ones)."""
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.close()
