"""How the server calls each action: activation, policy, invoker.

For each action the server keeps a factory that makes the handler of one call (the base of
the action middleware calls ``factory()(request)``). An action with nothing to add keeps the
plain factory of its class, so that a service using none of these features pays nothing for
them. The others get an :class:`_ActionEntry` that, on each call, activates the action if it
was given by import path, asks its policy, then hands the call to its invoker.

Where an action's policy and invoker come from, first found first:

- policy: the ``policies`` setting for its name, its class's ``policy`` attribute, then the
  service's default policy (the ``default_policy`` setting, else ``Server.default_policy``)
  unless it is ``status`` or ``introspect``;
- invoker: the ``invokers`` setting for its name, then its class's ``invoker`` attribute
  (an instance, or an ``Invoker`` subclass built without arguments).

Calls made with ``request.call_local_action`` skip the policy (the service is calling itself)
but not the activation or the invoker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from servicewire.errors import ERROR_CODE_UNKNOWN, ActionError, ImproperlyConfigured
from servicewire.server.action import ActionType
from servicewire.server.activation import LazyAction
from servicewire.server.invokers import ConcurrentInvoker, Invoker
from servicewire.server.policies import Policy, not_authorized_error
from servicewire.settings import ClassReference
from servicewire.types import ActionResponse, Error

if TYPE_CHECKING:
    from servicewire.server.interface import ServerInterface
    from servicewire.server.request import EnrichedActionRequest
    from servicewire.server.settings import ServerSettings

__all__ = ["ActionCalls", "ActionFactory", "unknown_action_error"]

Handler = Callable[["EnrichedActionRequest"], ActionResponse]
ActionFactory = Callable[[], Handler]
"""Makes the handler of one call of an action."""

# Built-in actions the service's default policy leaves open (health checks, tooling).
_OPEN_BY_DEFAULT = frozenset({"status", "introspect"})


class ActionCalls:
    """The factories of a server's actions: :attr:`factories` for calls from jobs,
    :attr:`local_factories` for ``call_local_action``.

    Built once per server, with its ``settings``, its ``actions``, the factory of an
    action class's plain handler and the service's default policy. When a policy in use
    reads whole jobs (or an action's policy is not known until it is activated),
    ``scope_jobs`` is called (once): the server then wraps its job middleware stack to make
    the job being processed available to the policies (``policies.with_job_scope``).
    """

    def __init__(
        self,
        server: ServerInterface,
        settings: ServerSettings,
        actions: dict[str, ActionType | str],
        handler_factory: Callable[[ActionType], ActionFactory],
        default_policy: Policy | None,
        scope_jobs: Callable[[], None],
    ) -> None:
        self.server = server
        self.handler_factory = handler_factory
        self._on_job_scope = scope_jobs
        for key, named in (("policies", settings.policies), ("invokers", settings.invokers)):
            for name in named:
                if name not in actions:
                    raise ImproperlyConfigured(
                        f"{key}.{name}: service {server.service_name!r} has no action {name!r}"
                    )
        self._policies: dict[str, Policy] = {
            name: _built(reference, Policy, f"policies.{name}")
            for name, reference in settings.policies.items()
        }
        self._invokers: dict[str, Invoker] = {
            name: _built(reference, Invoker, f"invokers.{name}")
            for name, reference in settings.invokers.items()
        }
        default = settings.default_policy
        self._default_policy = (
            _built(default, Policy, "default_policy") if default is not None else default_policy
        )
        self._binding = threading.Lock()  # lazy actions are set up while serving
        self._bindings: dict[int, tuple[Policy | Invoker, Any]] = {}
        self.factories: dict[str, ActionFactory] = {}
        self.local_factories: dict[str, ActionFactory] = {}
        self._entries: dict[str, _ActionEntry] = {}
        self._actions = actions
        self._job_scoped = False
        for name, action in actions.items():
            if self._bind(name, action):
                self._scope_jobs()

    def _scope_jobs(self) -> None:
        """Make the job being processed available to the policies (once)."""
        if not self._job_scoped:
            self._job_scoped = True
            self._on_job_scope()

    def _bind(self, name: str, action: ActionType | str) -> bool:
        """Build the factories of one action; whether its policy reads whole jobs."""
        self._entries.pop(name, None)
        if isinstance(action, str):
            entry = _ActionEntry(self, name, LazyAction(name, action))
        else:
            entry = _ActionEntry(self, name, None)
            if not entry.configure(action):
                plain = self.handler_factory(action)
                self.factories[name] = self.local_factories[name] = plain
                return False
        self._entries[name] = entry
        self.factories[name] = entry.handler
        self.local_factories[name] = entry.local_handler
        return isinstance(action, str) or entry.needs_job

    def define(self, name: str, action: ActionType) -> None:
        """Add (or replace) the action ``name`` of a server already built, with its policy
        and invoker found as for the others (test tooling defines actions this way)."""
        self._actions[name] = action
        if self._bind(name, action):
            self._scope_jobs()

    def activated(self, only: str | None = None) -> dict[str, ActionType]:
        """The action classes by name, activating those given by path (with ``only``, just
        the actions ``introspect`` may describe for that name). Raises ``ActionError`` for
        one that cannot be loaded."""
        selected: dict[str, ActionType] = {}
        for name, action in self._actions.items():
            if only is not None and not (
                name == only or name.startswith(f"{only}[") or only.startswith(f"{name}[")
            ):
                continue
            entry = self._entries.get(name)
            if isinstance(action, str):
                assert entry is not None
                selected[name] = entry.activate()
            else:
                selected[name] = action
        return selected

    def run_local(
        self, request: EnrichedActionRequest, *, raise_action_errors: bool, is_caller_error: bool
    ) -> ActionResponse:
        """Run ``request`` directly (see ``request.call_local_action``): its errors get
        ``is_caller_error``, and are raised as an ``ActionError`` if ``raise_action_errors``."""
        factory = self.local_factories.get(request.action)
        if factory is None:
            errors = [unknown_action_error(request.action)]
        else:
            try:
                response = factory()(request)
            except ActionError as error:
                errors = error.errors
            else:
                if not response.errors:
                    return response
                errors = response.errors
        errors = [replace(error, is_caller_error=is_caller_error) for error in errors]
        if raise_action_errors:
            raise ActionError(errors, set_is_caller_error_to=None)
        return ActionResponse(action=request.action, errors=errors)

    def invoker(self, name: str) -> Invoker | None:
        """The invoker the action ``name`` uses (``None``: calls run directly); an action
        given by path has one only once activated."""
        entry = self._entries.get(name)
        return None if entry is None else entry.invoker

    # --- what an action gets ----------------------------------------------------------------

    def policy_for(self, name: str, action: ActionType) -> Policy | None:
        policy = self._policies.get(name)
        if policy is None:
            policy = getattr(action, "policy", None)
            if policy is not None and not isinstance(policy, Policy):
                raise ImproperlyConfigured(
                    f'The policy of action "{name}" must be a Policy instance, not {policy!r}'
                )
        if policy is None and name not in _OPEN_BY_DEFAULT:
            policy = self._default_policy
        if policy is None:
            return None
        bound: Policy = self._bound(policy, lambda: policy.bind(self.server))
        return bound

    def invoker_for(self, name: str, action: ActionType) -> Invoker | None:
        invoker: Any = self._invokers.get(name) or getattr(action, "invoker", None)
        if isinstance(invoker, type) and issubclass(invoker, Invoker):
            invoker = invoker()
        if invoker is not None and not isinstance(invoker, Invoker):
            raise ImproperlyConfigured(
                f'The invoker of action "{name}" must be an Invoker, not {invoker!r}'
            )
        if invoker is None or type(invoker) is ConcurrentInvoker:
            return None  # running the call directly is what it would do
        bound: Invoker = self._bound(invoker, invoker.bind)
        return bound

    def _bound(self, given: Policy | Invoker, bind: Callable[[], Any]) -> Any:
        # Each policy or invoker object is bound once per server: actions that share one
        # share its state (a replay cache, a serializing lock).
        with self._binding:
            entry = self._bindings.get(id(given))
            if entry is None:
                entry = self._bindings[id(given)] = (given, bind())
            return entry[1]


class _ActionEntry:
    """One action with a policy, an invoker or a lazy import."""

    __slots__ = ("_calls", "_lock", "factory", "invoker", "lazy", "name", "needs_job", "policy")

    def __init__(self, calls: ActionCalls, name: str, lazy: LazyAction | None) -> None:
        self._calls = calls
        self.name = name
        self.lazy = lazy
        self._lock = threading.Lock()
        self.policy: Policy | None = None
        self.invoker: Invoker | None = None
        self.needs_job = False
        # Set last, once the rest is ready: a call finding it set may use the rest.
        self.factory: Callable[[], Handler] | None = None

    def configure(self, action: ActionType) -> bool:
        """Set up the policy and invoker of ``action``; whether it has either."""
        calls = self._calls
        self.policy = calls.policy_for(self.name, action)
        self.invoker = calls.invoker_for(self.name, action)
        self.needs_job = self.policy is not None and self.policy.needs_job
        self.factory = calls.handler_factory(action)
        return self.policy is not None or self.invoker is not None

    def activate(self) -> ActionType:
        """Import the action (once) and set it up; raises ``ActionError`` if it cannot be
        imported."""
        assert self.lazy is not None
        with self._lock:
            action = self.lazy.resolve()
            if self.factory is None:
                self.configure(action)
            return action

    # The factories of the two kinds of calls: the entry keeps no per-call state, so every
    # call's handler is one of its methods.

    def handler(self) -> Handler:
        return self.call

    def local_handler(self) -> Handler:
        return self.call_locally

    def call(self, request: EnrichedActionRequest) -> ActionResponse:
        if self.factory is None:
            self.activate()
        policy = self.policy
        if policy is not None:
            denials = policy.check(request)
            if denials:
                raise ActionError(
                    [not_authorized_error(request.action, denials)], set_is_caller_error_to=None
                )
        return self.call_locally(request)

    def call_locally(self, request: EnrichedActionRequest) -> ActionResponse:
        if self.factory is None:
            self.activate()
        invoker = self.invoker
        if invoker is None:
            return self._execute(request)
        return invoker.invoke(request, self._execute)

    def _execute(self, request: EnrichedActionRequest) -> ActionResponse:
        assert self.factory is not None
        return self.factory()(request)


def unknown_action_error(action: str) -> Error:
    """The error of a call to an action the service does not have."""
    return Error(
        code=ERROR_CODE_UNKNOWN,
        message=f'The action "{action}" was not found on this server.',
        field="action",
        is_caller_error=True,
    )


def _built(reference: ClassReference, base: type, key: str) -> Any:
    try:
        built = reference.object(**reference.kwargs)
    except Exception as error:
        raise ImproperlyConfigured(f"Cannot build {key} ({reference.path!r}): {error}") from error
    if not isinstance(built, base):
        raise ImproperlyConfigured(f"{key} ({reference.path!r}) is not a {base.__name__}")
    return built
