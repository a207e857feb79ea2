"""Stubbing the actions of the services that the code under test calls.

``stub_action(service, action, ...)`` makes one action of one service answer from the test
instead of the service, for every client of the process (sync or asyncio, made before or
after the stub started, including the client an action gets as ``request.client``), while
the service's other actions still reach it (see :mod:`servicewire.testing.interception`).
It works as a context manager, with ``start()`` / ``stop()``, and as a decorator of test
functions, methods, class methods and classes, which receive the stub as an extra argument
in the order ``mock.patch`` gives its mocks (it takes part in ``mock.patch``'s stacking).

The stub is an :class:`ActionStub`, a ``MagicMock`` called with each request body.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Literal, TypeVar
from unittest import mock

from pydantic import BaseModel

from servicewire.errors import ActionError, JobError
from servicewire.testing.contract import contracts
from servicewire.testing.errors import StubContractError, StubError, stub_errors
from servicewire.testing.interception import activate, deactivate
from servicewire.types import Body, Error

__all__ = ["ActionStub", "stub_action"]

T = TypeVar("T")

# How many callables may answer with another callable before the answer counts as broken.
_MOST_INDIRECTIONS = 20

_side_effect_property: property = mock.NonCallableMock.side_effect


def _copied(value: T) -> T:
    """A deep copy where possible: what a stub records or answers is then its own, as if it
    had travelled over the wire."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


class _Answer:
    """A ``side_effect`` given as one body: every call answers with (a copy of) it."""

    __slots__ = ("body",)

    def __init__(self, body: Mapping[str, Any] | BaseModel) -> None:
        self.body = body

    def __call__(self, request_body: Body) -> Mapping[str, Any] | BaseModel:
        return self.body

    def __repr__(self) -> str:
        return repr(self.body)


class ActionStub(mock.MagicMock):
    """The stand-in for one action of one service, while its stub is active.

    Each call of the action calls the stub with the request body (a copy of it), so the
    ``MagicMock`` API works as usual (``called``, ``call_count``,
    ``assert_called_once_with(body)``, ...); :attr:`call_body` and :attr:`call_bodies` are
    shorter. What it answers is set by ``return_value`` (by default an empty body) or
    ``side_effect``, either of which may be:

    - a body dict (or a pydantic model): the action's response body, copied for each call;
    - an ``ActionError``: the action's errors (``JobError``: the job's errors);
    - any other exception, class or instance: raised to the caller;
    - a callable taking the request body and returning (or raising) any of these;
    - for ``side_effect``, an iterable of these, one per call (a call after the last one fails
      with :class:`~servicewire.testing.StubError`).

    When the real action is known (see :mod:`servicewire.testing.contract`), requests it
    would refuse get its validation errors without calling the stub, and answers it could not
    give raise :class:`~servicewire.testing.StubContractError`; those are also kept in
    :attr:`contract_violations`, and raised again when the stub stops, should the code under
    test have swallowed them.
    """

    def __init__(
        self,
        *,
        service_name: str,
        action_name: str,
        contract: bool | None = None,
        check_request: bool = True,
        check_response: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=f"{service_name}.{action_name}", **kwargs)
        self.service_name = service_name
        self.action_name = action_name
        self.contract = contract
        self.check_request = check_request
        self.check_response = check_response
        self.contract_violations: list[StubContractError] = []

    def _get_child_mock(self, **kwargs: Any) -> mock.MagicMock:
        # Attributes and return values of the stub are plain mocks, not action stubs.
        return mock.MagicMock(**kwargs)

    def _set_side_effect(self, value: Any) -> None:
        # A dict (or a model) is iterable: without this, MagicMock would answer with its keys,
        # one by one.
        if isinstance(value, Mapping | BaseModel):
            value = _Answer(value)
        _side_effect_property.__set__(self, value)

    side_effect = property(_side_effect_property.fget, _set_side_effect)

    @property
    def call_body(self) -> Any:
        """The request body of the latest call (``None`` before the first)."""
        call = self.call_args
        return None if call is None else call.args[0]

    @property
    def call_bodies(self) -> tuple[Any, ...]:
        """The request bodies of every call, in order."""
        return tuple(call.args[0] for call in self.call_args_list)

    # --- answering ------------------------------------------------------------------------

    def respond(
        self,
        request: Mapping[str, Any],
        switches: Iterable[object],
        local_server_class: type | None,
    ) -> dict[str, Any] | JobError:
        """Answer one action request (a wire dict): the action response dict, or the
        ``JobError`` that fails the whole job."""
        name = self.action_name
        body = _copied(dict(request.get("body") or {}))
        try:
            contract = contracts.contract_for(
                self.service_name, name, switches, local_server_class, self.contract
            )
        except StubContractError as violation:
            self.contract_violations.append(violation)
            raise
        if contract is not None and self.check_request:
            refused = contract.request_errors(body)
            if refused:
                return _action_response(name, errors=refused)
        outcome = self._outcome(body)
        if isinstance(outcome, JobError):
            return outcome
        if isinstance(outcome, ActionError):
            return _action_response(name, errors=outcome.errors)
        if contract is not None and self.check_response:
            try:
                contract.check_response(outcome)
            except StubContractError as violation:
                self.contract_violations.append(violation)
                raise
        return _action_response(name, body=outcome)

    def _outcome(self, body: Body) -> Body | ActionError | JobError:
        try:
            result = self(body)
        except StopIteration:
            raise StubError(
                f"The stub of {self.service_name}.{self.action_name} was called "
                f"{self.call_count} times, but its side_effect had only {self.call_count - 1} "
                "answers"
            ) from None
        except (ActionError, JobError) as error:
            return error
        for _ in range(_MOST_INDIRECTIONS):
            if isinstance(result, ActionError | JobError):
                return result
            if isinstance(result, BaseException):
                raise result
            if isinstance(result, type) and issubclass(result, BaseException):
                if issubclass(result, ActionError | JobError):
                    raise StubError(
                        f"The stub of {self.service_name}.{self.action_name} answered with the "
                        f"class {result.__name__}: give an instance, with its errors"
                    )
                raise result
            if isinstance(result, Mapping):
                return _copied(dict(result))
            if isinstance(result, BaseModel):
                return result.model_dump()
            if result is None:
                return {}
            if not callable(result) or isinstance(result, mock.NonCallableMock):
                break
            try:
                result = result(body)
            except (ActionError, JobError) as error:
                return error
        raise StubError(
            f"The stub of {self.service_name}.{self.action_name} answered with {result!r}: a "
            "stub answers with a body dict, an ActionError, an exception, or a callable "
            "taking the request body"
        )


def _action_response(
    action: str, *, body: Body | None = None, errors: Sequence[Error] = ()
) -> dict[str, Any]:
    return {
        "action": action,
        "errors": [error.to_dict() for error in errors],
        "body": body if body is not None else {},
    }


class stub_action:  # noqa: N801 - the reference's name
    """Stub ``action`` of ``service`` (see the module's documentation).

    ``body`` is what the stub answers (its ``return_value``; default: an empty body);
    ``errors`` (``Error`` objects or dicts) make it answer with those errors instead, as if
    the action raised ``ActionError(errors)``; ``side_effect`` is set on the stub as is (see
    :class:`ActionStub`). ``contract`` overrides the contract mode for this stub: ``True``
    requires a check against the real action, ``False`` skips it;
    ``register_response_schema_contract=False`` and ``register_request_schema_contract=False``
    (the reference's names) skip only the check of the stub's answers or of the requests.

    Each use (each ``with``, each call of a decorated test) makes a new :class:`ActionStub`,
    so one ``stub_action`` may serve many tests, nested or in turn.
    """

    # How mock.patch's decorators recognise each other (and pytest recognises them): the
    # value entered is passed as an extra positional argument.
    attribute_name: ClassVar[str | None] = None
    new: ClassVar[Any] = mock.DEFAULT

    def __init__(
        self,
        service: str,
        action: str,
        body: Mapping[str, Any] | None = None,
        errors: Iterable[Error | Mapping[str, Any]] | None = None,
        side_effect: Any = None,
        register_response_schema_contract: bool = True,
        register_request_schema_contract: bool = True,
        *,
        contract: bool | None = None,
    ) -> None:
        if not isinstance(service, str) or not isinstance(action, str):
            raise TypeError(
                f"stub_action needs a service name and an action name, got {service!r} and "
                f"{action!r}"
            )
        if errors is not None and side_effect is not None:
            raise TypeError("stub_action takes errors or side_effect, not both")
        self.service = service
        self.action = action
        self.body = body
        self.errors = stub_errors(errors) if errors is not None else None
        self.side_effect = side_effect
        self.check_response = register_response_schema_contract
        self.check_request = register_request_schema_contract
        self.contract = contract
        self._started: list[ActionStub] = []

    def __repr__(self) -> str:
        return f"stub_action({self.service!r}, {self.action!r})"

    def copy(self) -> stub_action:
        """A new ``stub_action`` with the same settings."""
        return stub_action(
            self.service,
            self.action,
            body=self.body,
            errors=self.errors,
            side_effect=self.side_effect,
            register_response_schema_contract=self.check_response,
            register_request_schema_contract=self.check_request,
            contract=self.contract,
        )

    # --- as a context manager -------------------------------------------------------------

    def start(self) -> ActionStub:
        """Start stubbing and return the new stub (stop it with :meth:`stop`)."""
        stub = ActionStub(
            service_name=self.service,
            action_name=self.action,
            contract=self.contract,
            check_request=self.check_request,
            check_response=self.check_response,
        )
        stub.return_value = dict(self.body) if self.body is not None else {}
        if self.errors is not None:
            stub.side_effect = ActionError(self.errors)
        elif self.side_effect is not None:
            stub.side_effect = self.side_effect
        activate(stub)
        self._started.append(stub)
        return stub

    def stop(self) -> ActionStub:
        """Stop the stub started last, and return it. (Unlike the end of a ``with`` block or
        of a decorated test, this does not raise the contract violations the stub kept.)"""
        if not self._started:
            raise RuntimeError(f"{self!r} is not started")
        stub = self._started.pop()
        deactivate(stub)
        return stub

    def __enter__(self) -> ActionStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        stub = self.stop()
        if stub.contract_violations and not any(
            violation is exc_value for violation in stub.contract_violations
        ):
            raise StubContractError(
                f"{stub.contract_violations[0]}\n(Raised while the stub answered a call; the "
                "code under test did not let it through.)"
            )
        return False

    # --- as a decorator -------------------------------------------------------------------

    def __call__(self, target: T) -> T:
        if isinstance(target, type):
            return self._decorate_class(target)  # type: ignore[return-value]
        if isinstance(target, classmethod):
            return classmethod(self._decorate_callable(target.__func__))  # type: ignore[return-value]
        if isinstance(target, staticmethod):
            return staticmethod(self._decorate_callable(target.__func__))  # type: ignore[return-value]
        if callable(target):
            return self._decorate_callable(target)  # type: ignore[return-value]
        raise TypeError(f"{self!r} can decorate classes, functions and methods, not {target!r}")

    def _decorate_class(self, cls: type) -> type:
        for name in dir(cls):
            if not name.startswith(mock.patch.TEST_PREFIX):
                continue
            member = inspect.getattr_static(cls, name)
            function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            if callable(function):
                setattr(cls, name, self.copy()(member))
        return cls

    def _decorate_callable(self, function: Callable[..., Any]) -> Callable[..., Any]:
        # Stacked on mock.patch or stub_action decorators: one wrapper enters them all, in
        # order. A new wrapper each time, so that a decorated function shared with a base
        # class keeps its own list.
        patchings: list[Any] = [*getattr(function, "patchings", ()), self]
        original = getattr(function, "__wrapped__", function) if patchings[:-1] else function
        return _patched(original, patchings)


def _patched(function: Callable[..., Any], patchings: list[Any]) -> Callable[..., Any]:
    patched: Any
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def patched(*args: Any, **kwargs: Any) -> Any:
            with _entered(patched.patchings, args, kwargs) as (new_args, new_kwargs):
                return await function(*new_args, **new_kwargs)

    else:

        @functools.wraps(function)
        def patched(*args: Any, **kwargs: Any) -> Any:
            with _entered(patched.patchings, args, kwargs) as (new_args, new_kwargs):
                return function(*new_args, **new_kwargs)

    patched.patchings = patchings
    return patched  # type: ignore[no-any-return]


@contextlib.contextmanager
def _entered(
    patchings: Sequence[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Enter every patching, as ``mock.patch``'s decorators do; give the arguments to call
    the decorated function with (each entered value appended, in order)."""
    extra: list[Any] = []
    kwargs = dict(kwargs)
    with contextlib.ExitStack() as stack:
        for patching in patchings:
            value = stack.enter_context(patching)
            if patching.attribute_name is not None:
                kwargs.update(value)
            elif patching.new is mock.DEFAULT:
                extra.append(value)
        yield (*args, *extra), kwargs
