"""Actions: the units of work a service exposes."""

from __future__ import annotations

import abc
import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Union

from pydantic import BaseModel, ValidationError

from servicewire.errors import ERROR_CODE_INVALID, ActionError, ResponseValidationError
from servicewire.server.validation import errors_from_validation, validator_for
from servicewire.types import ActionResponse, Body, Error

if TYPE_CHECKING:
    from servicewire.server.request import EnrichedActionRequest
    from servicewire.server.settings import ServerSettings

__all__ = ["Action", "ActionInterface", "ActionType", "action_documentation"]


class ActionInterface(abc.ABC):
    """What the server requires of an action: built with the settings, called with a request."""

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings

    @abc.abstractmethod
    def __call__(self, action_request: EnrichedActionRequest) -> ActionResponse:
        """Run the action and return its response, or raise ``ActionError``."""


ActionType = Union[  # noqa: UP007 - forward references need Union at runtime
    type[ActionInterface],
    Callable[["ServerSettings | None"], Callable[["EnrichedActionRequest"], ActionResponse]],
]
"""An action class, or any callable that takes the server settings and returns a handler."""


class Action(ActionInterface):
    """Base class of most actions: override :meth:`run`.

    A call validates the request body against ``request_schema`` (if set), calls
    :meth:`validate` for custom checks, calls :meth:`run`, then validates its result against
    ``response_schema`` (if set). ``request_schema`` and ``response_schema`` are pydantic
    models or any type a pydantic ``TypeAdapter`` accepts, such as a ``TypedDict`` (on Python
    before 3.12, import ``TypedDict`` from ``typing_extensions``); they are checked strictly and
    reject unknown keys unless the model allows them. ``request.body`` stays a plain dict.

    A new instance handles each request, so an action may keep per-request state on ``self``.
    ``description`` (or the docstring) documents the action in ``introspect``.

    ``run`` may be ``async def``: the server then runs it on its event loop (through the
    coroutine middleware, as ``request.run_coroutine`` would) and waits for it; validation
    still happens first, in the server's thread. Called outside a server (a request without
    ``run_coroutine``), an ``async def run`` runs in a fresh event loop of its own.
    """

    description: ClassVar[str | None] = None
    request_schema: ClassVar[Any] = None
    response_schema: ClassVar[Any] = None

    @abc.abstractmethod
    def run(
        self, request: EnrichedActionRequest
    ) -> Body | BaseModel | Coroutine[Any, Any, Body | BaseModel]:
        """Do the work and return the response body (a dict or a pydantic model instance)."""

    def validate(self, request: EnrichedActionRequest) -> None:
        """Extra validation before :meth:`run`; raise ``ActionError`` to refuse the request."""

    def __call__(self, action_request: EnrichedActionRequest) -> ActionResponse:
        if self.request_schema is not None:
            try:
                validator_for(self.request_schema).validate(action_request.body)
            except ValidationError as error:
                raise ActionError(errors_from_validation(error, is_caller_error=True)) from None
        self.validate(action_request)
        body = self.run(action_request)
        if type(body) is not dict:
            body = self._to_dict(action_request, body)
        if self.response_schema is not None:
            try:
                validator_for(self.response_schema).validate(body)
            except ValidationError as error:
                raise ResponseValidationError(
                    action_request.action, errors_from_validation(error, is_caller_error=False)
                ) from None
        return ActionResponse(action_request.action, [], body)

    def _to_dict(self, request: EnrichedActionRequest, result: Any) -> Body:
        """Turn whatever ``run`` returned, other than a dict, into a response body.

        The coroutine of an ``async def run`` is run to completion first. Raises
        ``ResponseValidationError`` (reported to the caller as ``SERVER_ERROR``).
        """
        if inspect.iscoroutine(result):
            result = _wait_for_coroutine(request, result)
        if isinstance(result, BaseModel):
            return result.model_dump()
        if result is None:
            return {}
        if isinstance(result, dict):
            return result
        raise ResponseValidationError(
            request.action,
            [
                Error(
                    code=ERROR_CODE_INVALID,
                    message=f"run() returned a {type(result).__name__}, not a dict",
                )
            ],
        )


def _wait_for_coroutine(request: EnrichedActionRequest, coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run an ``async def run``'s coroutine on the server's event loop and wait for it."""
    run_coroutine = request.run_coroutine
    if run_coroutine is None:
        return asyncio.run(coroutine)
    future = None
    try:
        future = run_coroutine(coroutine)
        return future.result()
    except BaseException:
        # Interrupted (harakiri, shutdown): the coroutine must not run on unobserved.
        if future is not None:
            future.cancel()
        raise


def action_documentation(action: Any) -> str | None:
    """An action's ``description``, else its own docstring, else ``None``."""
    description = getattr(action, "description", None)
    if description:
        return str(description)
    doc = action.__dict__.get("__doc__") if isinstance(action, type) else action.__doc__
    return doc.strip() if doc else None
