"""What an auxiliary action receives, and what its processor is handed: the request (a copy
of its primary action's, with the primary's response) and the call that runs it."""

from __future__ import annotations

from collections.abc import Callable

from servicewire.server.request import EnrichedActionRequest
from servicewire.types import ActionResponse

__all__ = ["AuxiliaryActionRequest", "AuxiliaryCall"]


class AuxiliaryActionRequest(EnrichedActionRequest):
    """The request an auxiliary action receives: a copy of its primary action's request
    (``body``, ``switches``, ``context``, ``control``, and the same ``client``,
    ``run_coroutine`` and ``call_local_action`` helpers), plus the primary's outcome.

    ``action`` is the auxiliary action's own name, ``"<primary action>:<class name>"``
    (``"create_user:SendWelcomeEmail"``); ``primary_response`` is the primary action's
    response, a copy: its ``action``, ``body`` and ``errors``.
    """

    __slots__ = ("primary_response",)

    primary_response: ActionResponse

    @property
    def primary_action(self) -> str:
        """The name of the primary action (``"create_user"``)."""
        return self.primary_response.action

    @property
    def primary_failed(self) -> bool:
        """Whether the primary action ended with errors (see ``process_exceptions``)."""
        return bool(self.primary_response.errors)


class AuxiliaryCall:
    """One auxiliary action to run after one primary action: what a processor is handed.

    ``request`` is the auxiliary action's request (its own copy of the primary's request
    and response). :meth:`run` runs it in the calling thread, through the server's action
    middleware; it never raises: failures are logged and counted.
    """

    __slots__ = ("_runner", "request")

    def __init__(
        self,
        request: AuxiliaryActionRequest,
        runner: Callable[[AuxiliaryActionRequest], ActionResponse],
    ) -> None:
        self.request = request
        self._runner = runner

    @property
    def name(self) -> str:
        """The auxiliary action's name, ``"<primary action>:<class name>"``."""
        return self.request.action

    @property
    def correlation_id(self) -> str | None:
        correlation_id = self.request.context.get("correlation_id")
        return correlation_id if isinstance(correlation_id, str) else None

    def run(self) -> ActionResponse:
        """Run the auxiliary action here and now; return its response."""
        return self._runner(self.request)

    def __repr__(self) -> str:
        return f"<AuxiliaryCall {self.name} (correlation id {self.correlation_id})>"
