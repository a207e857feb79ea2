"""What the server hands to middleware and actions: enriched job and action requests."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from servicewire.errors import ERROR_CODE_SERVER_ERROR, ActionError
from servicewire.types import (
    ActionRequest,
    ActionResponse,
    Body,
    Context,
    Control,
    Error,
    JobRequest,
)

if TYPE_CHECKING:
    from servicewire.client.client import Client

__all__ = [
    "NO_SWITCHES",
    "EnrichedActionRequest",
    "EnrichedJobRequest",
    "RequestSwitchSet",
    "RunCoroutine",
    "switch_value",
]


class LocalActionRunner(Protocol):
    """What runs ``call_local_action`` (the server that made the request)."""

    def run_local_action(
        self,
        request: EnrichedActionRequest,
        *,
        raise_action_errors: bool = True,
        is_caller_error: bool = False,
    ) -> ActionResponse: ...


RunCoroutine = Callable[[Coroutine[Any, Any, Any]], "Future[Any]"]
"""Schedules a coroutine on the server's event loop and returns a future of its result."""


def switch_value(switch: object) -> int:
    """The int of a switch: the switch itself, or its ``value`` (an enum member's, say).

    Raises ``TypeError`` or ``ValueError`` for anything else.
    """
    value = getattr(switch, "value", switch)
    return int(value)  # type: ignore[call-overload, no-any-return]


class RequestSwitchSet(frozenset[int]):
    """The switches of a request, as a set of ints.

    Membership accepts ints and objects with an int ``value`` attribute (such as an enum
    member), so ``MY_SWITCH in request.switches`` works with either.
    """

    __slots__ = ()

    def __new__(cls, switches: Iterable[object] = ()) -> RequestSwitchSet:
        if not switches:
            return _NO_SWITCHES
        return super().__new__(cls, (switch_value(switch) for switch in switches))

    def __contains__(self, switch: object) -> bool:
        try:
            return super().__contains__(switch_value(switch))
        except (TypeError, ValueError):
            return False

    def is_active(self, switch: object) -> bool:
        """Whether ``switch`` is on for this request."""
        return switch in self


_NO_SWITCHES = frozenset.__new__(RequestSwitchSet)
NO_SWITCHES: RequestSwitchSet = _NO_SWITCHES
"""The switches of a request that has none (what ``RequestSwitchSet(())`` is)."""


class _ClientHolder:
    """Builds the job's client on first use and shares it among the job's actions."""

    __slots__ = ("_client", "_factory")

    def __init__(self, client: Client | None, factory: Callable[[], Client] | None) -> None:
        self._client = client
        self._factory = factory

    def get(self) -> Client | None:
        if self._client is None and self._factory is not None:
            self._client = self._factory()
            self._factory = None
        return self._client


class _HasClient:
    """The lazily built ``client`` shared by a job and its actions."""

    __slots__ = ()
    _client_holder: _ClientHolder | None  # a slot of each subclass

    @property
    def client(self) -> Client | None:
        holder = self._client_holder
        return None if holder is None else holder.get()

    @client.setter
    def client(self, client: Client | None) -> None:
        # Each subclass declares the slot; this mixin cannot, without a layout conflict.
        self._client_holder = _ClientHolder(client, None)  # type: ignore[misc]


class EnrichedJobRequest(_HasClient, JobRequest):
    """A validated job request, plus the ``client`` and ``run_coroutine`` helpers.

    ``client`` is a :class:`~servicewire.Client` configured by the server's
    ``client_routing`` setting that carries this job's context (correlation id, switches)
    to the services it calls; it is built the first time it is used.
    """

    __slots__ = ("_client_holder", "run_coroutine")

    def __init__(
        self,
        control: Control | None = None,
        context: Context | None = None,
        actions: list[ActionRequest] | None = None,
        client: Client | None = None,
        run_coroutine: RunCoroutine | None = None,
        *,
        client_factory: Callable[[], Client] | None = None,
    ) -> None:
        self.control = control if control is not None else {}
        self.context = context if context is not None else {}
        self.actions = actions if actions is not None else []
        self._client_holder = (
            None
            if client is None and client_factory is None
            else _ClientHolder(client, client_factory)
        )
        self.run_coroutine = run_coroutine


class EnrichedActionRequest(_HasClient, ActionRequest):
    """The request an action (and action middleware) receives.

    Besides ``action`` and ``body``, it carries the job's ``switches`` (a
    :class:`RequestSwitchSet`), ``context`` and ``control`` headers, a ``client`` for calling
    other services, ``run_coroutine`` for scheduling asyncio work on the server's loop, and
    :meth:`call_local_action` for calling another action of the same service.
    """

    __slots__ = ("_client_holder", "_server", "context", "control", "run_coroutine", "switches")

    def __init__(
        self,
        action: str,
        body: Body | None = None,
        switches: Iterable[object] | None = None,
        context: Context | None = None,
        control: Control | None = None,
        client: Client | None = None,
        run_coroutine: RunCoroutine | None = None,
        *,
        client_factory: Callable[[], Client] | None = None,
    ) -> None:
        self.action = action
        self.body = body if body is not None else {}
        self.switches = (
            switches if isinstance(switches, RequestSwitchSet) else RequestSwitchSet(switches or ())
        )
        self.context: Context = context if context is not None else {}
        self.control: Control = control if control is not None else {}
        self._client_holder = (
            None
            if client is None and client_factory is None
            else _ClientHolder(client, client_factory)
        )
        self.run_coroutine = run_coroutine
        self._server: LocalActionRunner | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(action={self.action!r}, body={self.body!r}, "
            f"switches={set(self.switches)!r}, context={self.context!r})"
        )

    def copy_for(
        self, action: str, body: Body, context_overrides: Context | None = None
    ) -> EnrichedActionRequest:
        """A copy of this request for another action of the same service."""
        context = self.context if not context_overrides else {**self.context, **context_overrides}
        clone = type(self).__new__(type(self))
        clone.action = action
        clone.body = body
        clone.switches = self.switches
        clone.context = context
        clone.control = self.control
        clone._client_holder = self._client_holder
        clone.run_coroutine = self.run_coroutine
        clone._server = self._server
        return clone

    def call_local_action(
        self,
        action: str,
        body: Body,
        raise_action_errors: bool = True,
        is_caller_error: bool = False,
        context: Context | None = None,
    ) -> ActionResponse:
        """Run another action of this service directly, with no transport or middleware.

        The action receives a copy of this request with the new ``action`` and ``body``
        (``context`` values, if given, override the copied context). Errors it reports get
        ``is_caller_error`` set to ``is_caller_error`` (by default ``False``: the calling
        action, not its caller, should have known better). They are raised as an
        :class:`~servicewire.ActionError` if ``raise_action_errors``, else returned in the
        response.
        """
        if self._server is None:
            # A request built by hand (in a test, say) has no server to run the action on:
            # a bug of the calling code, never its caller's, answered as a server would.
            errors = [
                Error(
                    code=ERROR_CODE_SERVER_ERROR,
                    message=f"Cannot call local action {action!r}: this request was not "
                    "created by a server",
                    is_caller_error=False,
                )
            ]
            if raise_action_errors:
                raise ActionError(errors, set_is_caller_error_to=None)
            return ActionResponse(action=action, errors=errors)
        return self._server.run_local_action(
            self.copy_for(action, body, context),
            raise_action_errors=raise_action_errors,
            is_caller_error=is_caller_error,
        )
