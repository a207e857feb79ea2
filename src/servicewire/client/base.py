"""What the sync and the asyncio client share: the protocol side of calling a service.

Validating settings, building contexts and jobs, naming the call site, checking responses for
errors and assembling the results of parallel calls are pure work on plain data. They live
here, once, so that :class:`~servicewire.Client` and :class:`~servicewire.AsyncClient` differ
only in how they send and wait.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Hashable, Iterable, Mapping, Sequence
from types import CodeType, FrameType
from typing import Any, ClassVar, TypeVar

from servicewire.client.expander import ExpansionCall, ExpansionSettings, plan_expansions
from servicewire.client.intercept import settings_for_unconfigured_service
from servicewire.client.options import CallOptions, Expansions, Switches
from servicewire.client.settings import ClientSettings
from servicewire.errors import (
    CallActionError,
    CallJobError,
    ImproperlyConfigured,
    InvalidExpansionKey,
    TransportError,
)
from servicewire.types import (
    ActionRequest,
    ActionResponse,
    Context,
    Control,
    JobRequest,
    JobResponse,
)

__all__ = [
    "ActionArgument",
    "BaseClient",
    "CallOptions",
    "Expansions",
    "Switches",
    "call_site",
    "first_action",
    "new_correlation_id",
]

ActionArgument = ActionRequest | Mapping[str, Any]

SentKey = TypeVar("SentKey", bound=Hashable)

_PACKAGE_DIRECTORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


# Correlation ids need to be unique, not unguessable: a generator of our own makes them at
# half the cost of a system call each. Our own, so that code seeding the ``random`` module
# cannot make two processes repeat each other's ids; reseeded in forked children.
_correlation_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_correlation_ids.seed)


def new_correlation_id() -> str:
    """A new random correlation id (32 hex digits, like a UUID's)."""
    return _correlation_ids.getrandbits(128).to_bytes(16, "big").hex()


if sys.version_info >= (3, 11):

    def _function_name(code: CodeType) -> str:
        return code.co_qualname

else:  # pragma: no cover - Python 3.10 has no qualified names on code objects

    def _function_name(code: CodeType) -> str:
        return code.co_name


_CALL_SITES: dict[tuple[int, int], tuple[CodeType, str]] = {}
_MOST_CALL_SITES = 10000


def call_site(depth: int = 1) -> str:
    """Where servicewire was called from: ``"path/to/file.py:42 in function"``, for the
    first frame of the stack outside the servicewire package, looking from ``depth`` frames
    above this function's own frame.

    It runs on every call, so the usual case is lean: the caller gives the depth at which
    user code is expected, and the text of each call site is cached by code object and
    bytecode offset (keyed by the code's id, because hashing a code object is slow; the entry
    holds the code, so that the id stays its own). Only sites outside servicewire are
    cached, so a cache hit at the starting frame is the answer.
    """
    frame = sys._getframe(depth)
    code = frame.f_code
    known = _CALL_SITES.get((id(code), frame.f_lasti))
    if known is not None:
        return known[1]
    return _find_call_site(frame, code)


def _find_call_site(frame: FrameType, code: CodeType) -> str:
    while code.co_filename.startswith(_PACKAGE_DIRECTORY):
        outer = frame.f_back
        if outer is None:
            break
        frame = outer
        code = frame.f_code
    key = (id(code), frame.f_lasti)
    known = _CALL_SITES.get(key)
    if known is not None:
        return known[1]
    if len(_CALL_SITES) >= _MOST_CALL_SITES:
        # Code made at run time (exec, templates) could grow the cache without end.
        _CALL_SITES.clear()
    site = f"{code.co_filename}:{frame.f_lineno} in {_function_name(code)}"
    _CALL_SITES[key] = (code, site)
    return site


def _action_request(action: Mapping[str, Any]) -> ActionRequest:
    return ActionRequest(action=action["action"], body=action.get("body") or {})


def first_action(response: JobResponse) -> ActionResponse:
    """The response's first action, or its job errors if the job failed as a whole."""
    if response.errors:
        # Only reachable with raise_job_errors=False: the job's errors stand in for the action.
        return response.errors  # type: ignore[return-value]
    return response.actions[0]


class BaseClient:
    """Settings, context and the checking of responses: the I/O-free half of a client.

    ``config`` maps each service name to its settings (a :class:`ClientSettings` dict:
    ``transport``, ``middleware``, ``metrics``); they are validated here, once. ``context``
    is a base context sent with every job (each call can add to and override it).
    """

    settings_class: ClassVar[type[ClientSettings]] = ClientSettings

    CallActionError = CallActionError
    CallJobError = CallJobError
    JobError = CallJobError
    ImproperlyConfigured = ImproperlyConfigured
    InvalidExpansionKey = InvalidExpansionKey

    def __init__(
        self,
        config: Mapping[str, Mapping[str, Any] | ClientSettings],
        expansion_config: Mapping[str, Any] | None = None,
        settings_class: type[ClientSettings] | None = None,
        context: Context | None = None,
    ) -> None:
        settings_class = settings_class or self.settings_class
        self.settings: dict[str, ClientSettings] = {
            service_name: settings_class.from_dict(service_settings)
            for service_name, service_settings in config.items()
        }
        self.context: Context = dict(context) if context else {}
        self.expansion_settings = (
            ExpansionSettings.from_dict(expansion_config) if expansion_config else None
        )

    def _settings_for(self, service_name: str) -> ClientSettings:
        try:
            return self.settings[service_name]
        except KeyError:
            stand_in = settings_for_unconfigured_service(service_name)
            if stand_in is not None:
                # A test double answers this service's stubbed actions.
                return stand_in
            configured = ", ".join(sorted(self.settings)) or "none"
            raise ImproperlyConfigured(
                f"Unrecognized service name {service_name!r} (configured services: {configured})"
            ) from None

    # --- building requests ----------------------------------------------------------------

    def _caller(self, context: Context | None, depth: int = 2) -> str | None:
        """The call site, unless the call's or the client's context already names a caller.

        ``depth`` counts the frames of servicewire between this method and the user's code
        on the shortest path: 2 when called by the method that the public call method calls
        (``_call_jobs``), 1 when called by the public method itself.
        """
        if (context and "caller" in context) or "caller" in self.context:
            return None
        # call_site's cache lookup, without its call: this runs on every call.
        frame = sys._getframe(depth + 1)
        code = frame.f_code
        known = _CALL_SITES.get((id(code), frame.f_lasti))
        if known is not None:
            return known[1]
        return _find_call_site(frame, code)

    def _shared_correlation_id(self, options: CallOptions) -> str | None:
        """The correlation id every job of one parallel call shares: the given one, the
        call context's, or a new one unless the client's context provides it."""
        context = options.context
        correlation_id = options.correlation_id or (context or {}).get("correlation_id")
        if correlation_id is None and "correlation_id" not in self.context:
            correlation_id = new_correlation_id()
        return correlation_id

    def _make_context(
        self, options: CallOptions, correlation_id: str | None, caller: str | None
    ) -> Context:
        context = options.context
        switches = options.switches
        if not (context or switches or self.context):
            # Nothing to merge (most calls): the same dict as below, made at once.
            made: Context = {
                "correlation_id": correlation_id
                if correlation_id is not None
                else _correlation_ids.getrandbits(128).to_bytes(16, "big").hex()
            }
            if caller is not None:
                made["caller"] = caller
            made["switches"] = []
            return made
        merged = {**self.context, **context} if context else self.context.copy()
        if correlation_id is not None:
            merged["correlation_id"] = correlation_id
        elif "correlation_id" not in merged:
            # new_correlation_id(), without its call.
            merged["correlation_id"] = _correlation_ids.getrandbits(128).to_bytes(16, "big").hex()
        if caller is not None and "caller" not in merged:
            merged["caller"] = caller
        # Switches given to the call, in the call's context and in the client's are all on.
        base_switches = self.context.get("switches")
        extra_switches = context.get("switches") if context else None
        if switches or base_switches or extra_switches:
            merged["switches"] = sorted(
                {*(switches or ()), *(base_switches or ()), *(extra_switches or ())}
            )
        else:
            merged["switches"] = []
        return merged

    def _make_job(
        self,
        actions: Iterable[ActionArgument],
        options: CallOptions,
        correlation_id: str | None,
        caller: str | None,
        *,
        suppress_response: bool = False,
    ) -> JobRequest:
        """A job of ``actions`` made with ``options`` (their ``timeout`` also in its
        control), in a context with ``correlation_id`` (a new one if ``None``)."""
        control: Control = {
            "continue_on_error": options.continue_on_error,
            "suppress_response": suppress_response,
        }
        if options.timeout:
            control["timeout"] = options.timeout
        if options.control_extra:
            control.update(options.control_extra)
        return JobRequest(
            control,
            self._make_context(options, correlation_id, caller),
            [
                action if isinstance(action, ActionRequest) else _action_request(action)
                for action in actions
            ],
        )

    # --- judging responses ----------------------------------------------------------------

    @staticmethod
    def _check_errors(response: JobResponse, options: CallOptions) -> None:
        if options.raise_job_errors and response.errors:
            raise CallJobError(response.errors)
        if options.raise_action_errors:
            for action in response.actions:
                if action.errors:
                    raise CallActionError([each for each in response.actions if each.errors])

    def _job_results(
        self,
        sent: Sequence[SentKey | Exception],
        received: Mapping[SentKey, JobResponse | Exception],
        options: CallOptions,
    ) -> tuple[list[Any], list[ActionResponse]]:
        """The results of a parallel call in request order, and the action responses to
        expand. ``sent`` holds a key per job (or the error that stopped its sending), and
        ``received`` the outcome for each key.

        Raises the first error in request order that the options do not ask to return.
        """
        catch_transport_errors = options.catch_transport_errors
        results: list[Any] = []
        to_expand: list[ActionResponse] = []
        for item in sent:
            outcome = item if isinstance(item, Exception) else received[item]
            if isinstance(outcome, JobResponse):
                self._check_errors(outcome, options)
                to_expand.extend(outcome.actions)
            elif not (catch_transport_errors and isinstance(outcome, TransportError)):
                raise outcome
            results.append(outcome)
        return results, to_expand

    # --- expansions -----------------------------------------------------------------------

    def _expansion_settings(self) -> ExpansionSettings:
        if self.expansion_settings is None:
            raise InvalidExpansionKey("This client has no expansion_config")
        return self.expansion_settings

    def _check_expansions(self, expansions: Expansions) -> None:
        if expansions:
            plan_expansions(self._expansion_settings(), expansions)

    @staticmethod
    def _expansion_jobs(calls: Iterable[ExpansionCall]) -> list[dict[str, Any]]:
        """The jobs that make one level's expansion calls, one job per call."""
        return [
            {"service_name": call.service, "actions": [{"action": call.action, "body": call.body}]}
            for call in calls
        ]
