"""Contracts: a stub may only answer what the real action could.

When the server class of a stubbed service is known, each call of the stub is checked against
the real action (for a :class:`~servicewire.SwitchedAction`, the one the call's switches
select):

- the action must exist on the real service;
- the request body must pass the action's ``request_schema``; if it does not, the caller gets
  the validation errors the real service would send, and the stub is not called;
- the body the stub answers with must pass the action's ``response_schema``; if it does not,
  the call raises :class:`~servicewire.testing.StubContractError` naming each problem.

The server class of a service is the one registered with :meth:`ContractRegistry.register`
(``contracts.register("user", "user_service.server:UserServer")``, or the pytest ini option
``servicewire_contracts``), else the server that the client's local transport runs.
``contracts.mode`` says what happens when there is none: ``"auto"`` (the default) skips the
check, ``"required"`` fails the call, ``"off"`` never checks. One stub can override the mode
with ``stub_action(..., contract=True)`` (required) or ``contract=False`` (off).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from pydantic import ValidationError

from servicewire.server.request import RequestSwitchSet
from servicewire.server.switched import SwitchedAction
from servicewire.server.validation import errors_from_validation, validator_for
from servicewire.settings import import_path
from servicewire.testing.errors import StubContractError
from servicewire.types import Error

if TYPE_CHECKING:
    from servicewire.server.request import EnrichedActionRequest
    from servicewire.server.server import Server

__all__ = ["ActionContract", "ContractMode", "ContractRegistry", "contracts"]

ContractMode = Literal["auto", "required", "off"]

# Actions every server has without declaring them; their answers have no schema to check.
_BUILT_IN_ACTIONS = frozenset({"status", "introspect"})


def _describe_class(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _describe_problem(error: Error) -> str:
    return f"{error.code} {error.field or '(the whole body)'}: {error.message}"


@dataclass(frozen=True)
class ActionContract:
    """The real action a stub stands in for, and the schemas it answers by."""

    service_name: str
    action_name: str
    server_class: type
    action: Any

    def request_errors(self, body: Mapping[str, Any]) -> list[Error]:
        """The errors the real action would answer ``body`` with before running."""
        schema = getattr(self.action, "request_schema", None)
        if schema is None:
            return []
        try:
            validator_for(schema).validate(body)
        except ValidationError as error:
            return errors_from_validation(error, is_caller_error=True)
        return []

    def check_response(self, body: Mapping[str, Any]) -> None:
        """Raise :class:`StubContractError` if the real action could not answer ``body``."""
        schema = getattr(self.action, "response_schema", None)
        if schema is None:
            return
        try:
            validator_for(schema).validate(body)
        except ValidationError as error:
            problems = errors_from_validation(error, is_caller_error=False)
            lines = "\n".join(f"  - {_describe_problem(problem)}" for problem in problems)
            action_name = getattr(self.action, "__qualname__", repr(self.action))
            raise StubContractError(
                f"The stub of {self.service_name}.{self.action_name} answered with a body that "
                f"the real action rejects ({action_name}.response_schema, in "
                f"{_describe_class(self.server_class)}):\n{lines}\n"
                f"The stub's body: {dict(body)!r}\n"
                "Fix the stub's body, or pass contract=False to stub_action if the difference "
                "is deliberate."
            ) from None


class ContractRegistry:
    """Which server class holds the real actions of each service, and how strictly stubs are
    checked against them (see the module's documentation). The toolkit uses one,
    :data:`contracts`."""

    def __init__(self) -> None:
        self._servers: dict[str, type | str] = {}
        self._mode: ContractMode = "auto"

    @property
    def mode(self) -> ContractMode:
        """``"auto"``, ``"required"`` or ``"off"``."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        modes = get_args(ContractMode)
        if mode not in modes:
            raise ValueError(f"Unknown contract mode {mode!r}: use one of {', '.join(modes)}")
        self._mode = cast(ContractMode, mode)

    def register(self, service_name: str, server_class: type[Server] | str) -> None:
        """Check stubs of ``service_name`` against ``server_class`` (a ``Server`` subclass or
        its ``"module:Class"`` path, imported when a stub of the service is first called)."""
        self._servers[service_name] = server_class

    def unregister(self, service_name: str) -> None:
        """Forget the server class of ``service_name`` (nothing happens if there is none)."""
        self._servers.pop(service_name, None)

    def registered(self) -> dict[str, type | str]:
        """The registered server classes (or paths), by service name."""
        return dict(self._servers)

    def reset(self) -> None:
        """Forget every server class and go back to the ``"auto"`` mode."""
        self._servers.clear()
        self._mode = "auto"

    def server_class_for(self, service_name: str) -> type | None:
        """The registered server class of ``service_name``, imported; ``None`` if there is
        none. Raises :class:`StubContractError` if it cannot be imported."""
        entry = self._servers.get(service_name)
        if not isinstance(entry, str):
            return entry
        try:
            resolved = import_path(entry)
        except ImportError as error:
            raise StubContractError(
                f"The server class registered for the contracts of service {service_name!r} "
                f"cannot be imported: {error}"
            ) from None
        if not isinstance(resolved, type) or not isinstance(
            getattr(resolved, "action_class_map", None), Mapping
        ):
            raise StubContractError(
                f"{entry!r}, registered for the contracts of service {service_name!r}, is not "
                "a Server class"
            )
        self._servers[service_name] = resolved
        return resolved

    def contract_for(
        self,
        service_name: str,
        action_name: str,
        switches: Iterable[object],
        local_server_class: type | None,
        required: bool | None,
    ) -> ActionContract | None:
        """The contract a stub of ``service_name.action_name`` answers by, or ``None`` if it
        is not checked.

        ``local_server_class`` is the server the client runs in-process for the service, if
        any; ``required`` is the stub's own setting (``None``: follow :attr:`mode`).
        """
        mode = self._mode if required is None else ("required" if required else "off")
        if mode == "off":
            return None
        server_class = self.server_class_for(service_name) or local_server_class
        if server_class is None:
            if mode == "auto":
                return None
            raise StubContractError(
                f"The stub of {service_name}.{action_name} requires a contract, but no server "
                f"class is known for service {service_name!r}: register it with "
                f"servicewire.testing.contracts.register({service_name!r}, "
                "'your.module:YourServer') or the servicewire_contracts ini option, or pass "
                "contract=False to stub_action"
            )
        actions: Mapping[str, Any] = server_class.action_class_map  # type: ignore[attr-defined]
        action = actions.get(action_name)
        if action is None:
            if action_name in _BUILT_IN_ACTIONS:
                return None
            known = ", ".join(sorted(actions)) or "none"
            raise StubContractError(
                f"The stub of {service_name}.{action_name} stands in for an action that the "
                f"real service ({_describe_class(server_class)}) does not have (its actions: "
                f"{known})"
            )
        return ActionContract(
            service_name, action_name, server_class, _switched_to(action, switches)
        )


def _switched_to(action: Any, switches: Iterable[object]) -> Any:
    """The action that runs for ``switches``: ``action`` itself unless it is switched."""
    while isinstance(action, type) and issubclass(action, SwitchedAction):
        # Only the request's switches matter to the choice.
        request = cast("EnrichedActionRequest", _SwitchesOnly(RequestSwitchSet(switches)))
        action = action(None).get_uninitialized_action(request)
    return action


@dataclass(frozen=True)
class _SwitchesOnly:
    switches: RequestSwitchSet


contracts = ContractRegistry()
"""The registry every stub is checked with."""
