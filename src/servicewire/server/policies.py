"""Call policies: who may call an action.

A policy is asked about each call before the action runs (at the base of the action
middleware, so middleware sees a refusal like any other action error). A refused call is
answered with the action error ``NOT_AUTHORIZED``, ``is_caller_error`` true, whose
``denied_permissions`` lists what the call lacked.

Policies are given per action (a ``policy`` attribute on the action class, or the
``policies`` setting) or per service (``Server.default_policy`` or the ``default_policy``
setting, for the actions that have none). The built-in ``status`` and ``introspect`` are
left out of the default policy: they stay callable unless given a policy of their own.

``calling_service`` is what the caller *says* it is: any client can put any name there.
:class:`AllowCallingServices` keeps honest callers apart; it authenticates no one. To know
who sent a request, sign it (:class:`~servicewire.server.signing.AllowSignedRequests`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from servicewire.errors import ERROR_CODE_NOT_AUTHORIZED
from servicewire.types import Error

if TYPE_CHECKING:
    from servicewire.server.interface import ServerInterface
    from servicewire.server.middleware import ProcessJob
    from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest
    from servicewire.types import JobResponse

__all__ = [
    "AllOf",
    "AllowAny",
    "AllowCallingServices",
    "AllowSwitches",
    "AnyOf",
    "Denial",
    "DenyAll",
    "JobScope",
    "Policy",
    "job_scope",
    "not_authorized_error",
    "with_job_scope",
]


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a policy refused a call: the ``permission`` it lacked (listed in
    ``denied_permissions``) and, if the policy says more, the ``reason`` (in the message)."""

    permission: str
    reason: str | None = None


class Policy:
    """Base of call policies: override :meth:`is_authorized` (and set :attr:`permission`).

    Policies that explain themselves override :meth:`check` instead. A policy that keeps
    per-server state (a replay cache, keys from the settings) returns a fresh instance of
    itself from :meth:`bind`; each server binds each policy object once, at start-up (or
    when a lazily activated action first needs it), and the actions sharing it share that.
    """

    permission: ClassVar[str | None] = None
    """The permission a refused call lacked, as ``denied_permissions`` lists it (default:
    the class name)."""

    needs_job: bool = False
    """Whether :meth:`check` reads the whole job, not only the action's request (the
    server then makes the job available to it)."""

    def is_authorized(self, request: EnrichedActionRequest) -> bool:
        """Whether ``request`` may run."""
        return not self.check(request)

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        """What ``request`` lacks: nothing when it may run. The default asks
        :meth:`is_authorized` and names :attr:`permission`."""
        if type(self).is_authorized is Policy.is_authorized:
            raise NotImplementedError(f"{type(self).__qualname__} must override is_authorized")
        if self.is_authorized(request):
            return []
        return [Denial(self.permission or type(self).__name__)]

    def bind(self, server: ServerInterface) -> Policy:
        """The policy ``server`` uses (default: this one)."""
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AllowAny(Policy):
    """Every call may run."""

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        return []


class DenyAll(Policy):
    """No call may run. As a service's default policy, only the actions given a policy of
    their own (and ``status`` and ``introspect``) can be called."""

    def __init__(self, reason: str = "no caller may call it") -> None:
        self.reason = reason

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        return [Denial(f"action:{request.action}", self.reason)]


class _CallingServicesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    services: list[StrictStr]


class AllowCallingServices(Policy):
    """Calls whose context names one of ``services`` as its ``calling_service``.

    A claim, not a proof: see the module documentation.
    """

    settings_schema: ClassVar[type[BaseModel]] = _CallingServicesSettings

    def __init__(self, services: Iterable[str]) -> None:
        self.services = frozenset(services)
        if not self.services or not all(isinstance(name, str) for name in self.services):
            raise TypeError("AllowCallingServices needs one or more service names")
        self._permissions = [f"calling_service:{name}" for name in sorted(self.services)]

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        caller = request.context.get("calling_service")
        if caller in self.services:
            return []
        said = "names no calling_service" if caller is None else f"comes from {caller!r}"
        reason = f"the call {said}, not one of {', '.join(sorted(self.services))}"
        return [Denial(permission, reason) for permission in self._permissions]

    def __repr__(self) -> str:
        return f"AllowCallingServices({sorted(self.services)!r})"


class _SwitchesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    switches: list[StrictInt]


class AllowSwitches(Policy):
    """Calls made with any of ``switches`` active (ints, or objects with an int ``value``)."""

    settings_schema: ClassVar[type[BaseModel]] = _SwitchesSettings

    def __init__(self, switches: Iterable[Any]) -> None:
        self.switches = frozenset(int(getattr(switch, "value", switch)) for switch in switches)
        if not self.switches:
            raise TypeError("AllowSwitches needs one or more switches")
        self._permissions = [f"switch:{switch}" for switch in sorted(self.switches)]

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        if not self.switches.isdisjoint(request.switches):
            return []
        wanted = ", ".join(str(switch) for switch in sorted(self.switches))
        reason = f"none of the switches {wanted} is active"
        return [Denial(permission, reason) for permission in self._permissions]

    def __repr__(self) -> str:
        return f"AllowSwitches({sorted(self.switches)!r})"


class _Composite(Policy):
    def __init__(self, *policies: Policy) -> None:
        if not policies or not all(isinstance(policy, Policy) for policy in policies):
            raise TypeError(f"{type(self).__name__} needs one or more policies")
        self.policies = policies
        self.needs_job = any(policy.needs_job for policy in policies)

    def bind(self, server: ServerInterface) -> Policy:
        return type(self)(*(policy.bind(server) for policy in self.policies))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.policies))})"


class AllOf(_Composite):
    """Calls every one of ``policies`` allows; a refusal lists what each refusing policy
    lacked."""

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        denials: list[Denial] = []
        for policy in self.policies:
            denials.extend(policy.check(request))
        return denials


class AnyOf(_Composite):
    """Calls at least one of ``policies`` allows; a refusal lists what each policy lacked
    (any one of which would have done)."""

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        denials: list[Denial] = []
        for policy in self.policies:
            refused = policy.check(request)
            if not refused:
                return []
            denials.extend(refused)
        return denials


def not_authorized_error(action: str, denials: list[Denial]) -> Error:
    """The ``NOT_AUTHORIZED`` action error of a refused call."""
    permissions = list(dict.fromkeys(denial.permission for denial in denials))
    reasons = list(dict.fromkeys(denial.reason for denial in denials if denial.reason))
    detail = "; ".join(reasons) if reasons else "missing " + ", ".join(permissions)
    return Error(
        code=ERROR_CODE_NOT_AUTHORIZED,
        message=f'Not authorized to call action "{action}": {detail}',
        denied_permissions=permissions,
        is_caller_error=True,
    )


# --- the job being processed ----------------------------------------------------------------
# A policy sees one action's request; one that needs the whole job (a signature covers every
# action) finds it here. The server sets it around each job only when such a policy is in
# use; policies memoize per-job verdicts in ``memo``.


class JobScope:
    """The job being processed in this thread, and what policies learnt about it."""

    __slots__ = ("job", "memo")

    def __init__(self, job: EnrichedJobRequest) -> None:
        self.job = job
        self.memo: dict[object, Any] = {}


_job_scope: ContextVar[JobScope | None] = ContextVar("servicewire_job_scope", default=None)


def job_scope() -> JobScope | None:
    """The scope of the job being processed (``None`` outside a job, or when no policy in
    use needs the job)."""
    return _job_scope.get()


def with_job_scope(process_job: ProcessJob) -> ProcessJob:
    """``process_job`` run with :func:`job_scope` set to its job."""

    def process(job_request: EnrichedJobRequest) -> JobResponse:
        token = _job_scope.set(JobScope(job_request))
        try:
            return process_job(job_request)
        finally:
            _job_scope.reset(token)

    return process
