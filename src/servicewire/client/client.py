"""The client: calling actions on services, one job at a time or many in parallel."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from servicewire.client.expander import ExpansionSettings, expansion_steps, plan_expansions
from servicewire.client.futures import FutureResponse
from servicewire.client.handler import ServiceHandler
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
    Body,
    Context,
    Control,
    JobRequest,
    JobResponse,
)

__all__ = ["Client"]

T = TypeVar("T")

ActionArgument = ActionRequest | Mapping[str, Any]
Switches = Iterable[int] | None
Expansions = Mapping[str, Sequence[str]] | None


def new_correlation_id() -> str:
    """A new random correlation id (32 hex digits, like a UUID's)."""
    return os.urandom(16).hex()


def _action_request(action: ActionArgument) -> ActionRequest:
    if isinstance(action, ActionRequest):
        return action
    return ActionRequest(action=action["action"], body=action.get("body") or {})


class Client:
    """Calls actions on services.

    ``config`` maps each service name to its settings (a :class:`ClientSettings` dict:
    ``transport``, ``middleware``, ``metrics``); they are validated here, once. ``context``
    is a base context sent with every job (each call can add to and override it).

    Every ``call_*`` method raises :class:`~servicewire.CallJobError` for job errors (unless
    ``raise_job_errors=False``) and :class:`~servicewire.CallActionError` for action errors
    (unless ``raise_action_errors=False``), and transport errors as they happen. ``timeout``
    bounds the whole wait for the call's replies and sets how long requests live in queues.
    """

    settings_class: ClassVar[type[ClientSettings]] = ClientSettings
    handler_class: ClassVar[type[ServiceHandler]] = ServiceHandler

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
        self.handlers: dict[str, ServiceHandler] = {}
        self._handlers_lock = threading.Lock()
        self.expansion_settings = (
            ExpansionSettings.from_dict(expansion_config) if expansion_config else None
        )

    # --- plumbing -------------------------------------------------------------------------

    def _get_handler(self, service_name: str) -> ServiceHandler:
        try:
            return self.handlers[service_name]
        except KeyError:
            pass
        with self._handlers_lock:
            if service_name not in self.handlers:
                try:
                    settings = self.settings[service_name]
                except KeyError:
                    configured = ", ".join(sorted(self.settings)) or "none"
                    raise ImproperlyConfigured(
                        f"Unrecognized service name {service_name!r} "
                        f"(configured services: {configured})"
                    ) from None
                self.handlers[service_name] = self.handler_class(service_name, settings)
            return self.handlers[service_name]

    def _make_context(
        self,
        switches: Switches,
        correlation_id: str | None,
        context: Context | None,
    ) -> Context:
        merged = {**self.context, **context} if context else self.context.copy()
        if correlation_id is not None:
            merged["correlation_id"] = correlation_id
        elif "correlation_id" not in merged:
            merged["correlation_id"] = new_correlation_id()
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
        switches: Switches,
        correlation_id: str | None,
        continue_on_error: bool,
        context: Context | None,
        control_extra: Control | None,
        suppress_response: bool = False,
        timeout: int | float | None = None,
    ) -> JobRequest:
        control: Control = {
            "continue_on_error": continue_on_error,
            "suppress_response": suppress_response,
        }
        if timeout:
            control["timeout"] = timeout
        if control_extra:
            control.update(control_extra)
        return JobRequest(
            control=control,
            context=self._make_context(switches, correlation_id, context),
            actions=[_action_request(action) for action in actions],
        )

    @staticmethod
    def _check_errors(
        response: JobResponse, raise_job_errors: bool, raise_action_errors: bool
    ) -> None:
        if raise_job_errors and response.errors:
            raise CallJobError(response.errors)
        if raise_action_errors:
            failed = [action for action in response.actions if action.errors]
            if failed:
                raise CallActionError(failed)

    def _expand(
        self,
        action_responses: Sequence[ActionResponse],
        expansions: Expansions,
        timeout: int | float | None,
        switches: Switches,
        context: Context | None,
    ) -> None:
        """Run the expansions, level by level, each level's calls in parallel."""
        if not expansions:
            return
        steps = expansion_steps(self._expansion_settings(), action_responses, expansions)
        try:
            calls = next(steps)
            while True:
                results = self._call_jobs(
                    [
                        {
                            "service_name": call.service,
                            "actions": [{"action": call.action, "body": call.body}],
                        }
                        for call in calls
                    ],
                    None, False, False, True, timeout, switches, None, False, context, None,
                )(timeout)  # fmt: skip
                calls = steps.send(results)
        except StopIteration:
            return

    def _expansion_settings(self) -> ExpansionSettings:
        if self.expansion_settings is None:
            raise InvalidExpansionKey("This client has no expansion_config")
        return self.expansion_settings

    # --- sending and receiving ------------------------------------------------------------

    def send_request(
        self,
        service_name: str,
        actions: Iterable[ActionArgument],
        switches: Switches = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Context | None = None,
        control_extra: Control | None = None,
        message_expiry_in_seconds: int | float | None = None,
        suppress_response: bool = False,
    ) -> int:
        """Build and send a job; return its request id (collect it with
        :meth:`get_all_responses`). With ``suppress_response`` the service sends no reply.
        """
        handler = self._get_handler(service_name)
        job = self._make_job(
            actions,
            switches,
            correlation_id,
            continue_on_error,
            context,
            control_extra,
            suppress_response,
            message_expiry_in_seconds,
        )
        return handler.send_request(
            job, message_expiry_in_seconds, expect_response=not suppress_response
        )

    def get_all_responses(
        self, service_name: str, receive_timeout_in_seconds: int | float | None = None
    ) -> Generator[tuple[int, JobResponse], None, None]:
        """Yield ``(request_id, job_response)`` for each request this thread has in flight
        to ``service_name``."""
        return self._get_handler(service_name).get_all_responses(receive_timeout_in_seconds)

    # --- one job --------------------------------------------------------------------------

    def call_actions(
        self,
        service_name: str,
        actions: Iterable[ActionArgument],
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> JobResponse:
        """Send one job of one or more actions and return its :class:`JobResponse`."""
        return self._call_job(
            service_name,
            actions,
            expansions,
            raise_job_errors,
            raise_action_errors,
            timeout,
            switches,
            correlation_id,
            continue_on_error,
            context,
            control_extra,
        )(timeout)

    def call_actions_future(
        self,
        service_name: str,
        actions: Iterable[ActionArgument],
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> FutureResponse[JobResponse]:
        """Like :meth:`call_actions`, but return at once with a future of the response."""
        return self._future(
            self._call_job(
                service_name,
                actions,
                expansions,
                raise_job_errors,
                raise_action_errors,
                timeout,
                switches,
                correlation_id,
                continue_on_error,
                context,
                control_extra,
                for_future=True,
            ),
            timeout,
        )

    def call_action(
        self,
        service_name: str,
        action: str,
        body: Body | None = None,
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> ActionResponse:
        """Call one action and return its :class:`ActionResponse`.

        With ``raise_job_errors=False``, a job that failed returns its list of job errors
        in place of the action response.
        """
        response = self._call_job(
            service_name,
            (ActionRequest(action, body if body is not None else {}),),
            expansions,
            raise_job_errors,
            raise_action_errors,
            timeout,
            switches,
            correlation_id,
            False,
            context,
            control_extra,
        )(timeout)
        return _first_action(response)

    def call_action_future(
        self,
        service_name: str,
        action: str,
        body: Body | None = None,
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> FutureResponse[ActionResponse]:
        """Like :meth:`call_action`, but return at once with a future of the response."""
        get_job = self._call_job(
            service_name,
            (ActionRequest(action, body if body is not None else {}),),
            expansions,
            raise_job_errors,
            raise_action_errors,
            timeout,
            switches,
            correlation_id,
            False,
            context,
            control_extra,
            for_future=True,
        )
        return self._future(lambda wait: _first_action(get_job(wait)), timeout)

    def _call_job(
        self,
        service_name: str,
        actions: Iterable[ActionArgument],
        expansions: Expansions,
        raise_job_errors: bool,
        raise_action_errors: bool,
        timeout: int | float | None,
        switches: Switches,
        correlation_id: str | None,
        continue_on_error: bool,
        context: Context | None,
        control_extra: Control | None,
        *,
        for_future: bool = False,
    ) -> Callable[[float | None], JobResponse]:
        """Send the job now; return the function that waits for and checks its response."""
        handler = self._get_handler(service_name)
        job = self._make_job(
            actions, switches, correlation_id, continue_on_error, context, control_extra,
            timeout=timeout,
        )  # fmt: skip
        request_id = handler.send_request(job, timeout)
        if expansions:
            self._check_expansions(expansions)

        def get_response(wait: float | None) -> JobResponse:
            response = handler.wait_for((request_id,), wait, give_up_on_timeout=not for_future)[
                request_id
            ]
            self._check_errors(response, raise_job_errors, raise_action_errors)
            if expansions:
                self._expand(response.actions, expansions, timeout, switches, context)
            return response

        if for_future:
            handler.forget_later(get_response, (request_id,))
        return get_response

    def _check_expansions(self, expansions: Expansions) -> None:
        if expansions:
            plan_expansions(self._expansion_settings(), expansions)

    @staticmethod
    def _future(
        get_response: Callable[[float | None], T], timeout: float | None
    ) -> FutureResponse[T]:
        return FutureResponse(lambda wait: get_response(wait if wait is not None else timeout))

    # --- many jobs ------------------------------------------------------------------------

    def call_jobs_parallel(
        self,
        jobs: Iterable[Mapping[str, Any]],
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        catch_transport_errors: bool = False,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> list[JobResponse]:
        """Send several jobs, to one or more services, at once, and return their responses in
        the order of ``jobs`` (each job is ``{"service_name": ..., "actions": [...]}``).

        With ``catch_transport_errors``, a job whose send or receive failed has the exception
        in its place; with ``raise_job_errors=False``, job errors are returned, not raised.
        """
        return self._call_jobs(
            jobs, expansions, raise_job_errors, raise_action_errors, catch_transport_errors,
            timeout, switches, correlation_id, continue_on_error, context, control_extra,
        )(timeout)  # fmt: skip

    def call_jobs_parallel_future(
        self,
        jobs: Iterable[Mapping[str, Any]],
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        catch_transport_errors: bool = False,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> FutureResponse[list[JobResponse]]:
        """Like :meth:`call_jobs_parallel`, but return at once with a future of the list."""
        return self._future(
            self._call_jobs(
                jobs, expansions, raise_job_errors, raise_action_errors, catch_transport_errors,
                timeout, switches, correlation_id, continue_on_error, context, control_extra,
                for_future=True,
            ),
            timeout,
        )  # fmt: skip

    def call_actions_parallel(
        self,
        service_name: str,
        actions: Iterable[ActionArgument],
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        catch_transport_errors: bool = False,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> Generator[Any, None, None]:
        """Send each action as its own job, all at once, and return their responses in order.

        Items may be exceptions (``catch_transport_errors``) or lists of job errors
        (``raise_job_errors=False``) in place of action responses.
        """
        return self.call_actions_parallel_future(
            service_name, actions, expansions, raise_job_errors, raise_action_errors,
            catch_transport_errors, timeout, switches, correlation_id, context, control_extra,
        ).result()  # fmt: skip

    def call_actions_parallel_future(
        self,
        service_name: str,
        actions: Iterable[ActionArgument],
        expansions: Expansions = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        catch_transport_errors: bool = False,
        timeout: int | float | None = None,
        switches: Switches = None,
        correlation_id: str | None = None,
        context: Context | None = None,
        control_extra: Control | None = None,
    ) -> FutureResponse[Generator[Any, None, None]]:
        """Like :meth:`call_actions_parallel`, but return at once with a future."""
        get_jobs = self._call_jobs(
            ({"service_name": service_name, "actions": [action]} for action in actions),
            expansions, raise_job_errors, raise_action_errors, catch_transport_errors,
            timeout, switches, correlation_id, False, context, control_extra,
            for_future=True,
        )  # fmt: skip

        def get_actions(wait: float | None) -> Generator[Any, None, None]:
            # Wait here, not in the generator, so that errors surface from result().
            jobs = get_jobs(wait)
            return (job if isinstance(job, Exception) else _first_action(job) for job in jobs)

        return self._future(get_actions, timeout)

    def _call_jobs(
        self,
        jobs: Iterable[Mapping[str, Any]],
        expansions: Expansions,
        raise_job_errors: bool,
        raise_action_errors: bool,
        catch_transport_errors: bool,
        timeout: int | float | None,
        switches: Switches,
        correlation_id: str | None,
        continue_on_error: bool,
        context: Context | None,
        control_extra: Control | None,
        *,
        for_future: bool = False,
    ) -> Callable[[float | None], list[Any]]:
        """Send every job now; return the function that waits for and checks the responses."""
        if expansions:
            self._check_expansions(expansions)
        # Every job shares one correlation id unless the caller's context says otherwise.
        correlation_id = correlation_id or (context or {}).get("correlation_id")
        if correlation_id is None and "correlation_id" not in self.context:
            correlation_id = new_correlation_id()
        sent: list[tuple[ServiceHandler, int] | Exception] = []
        for job in jobs:
            try:
                handler = self._get_handler(job["service_name"])
                job_request = self._make_job(
                    job["actions"], switches, correlation_id, continue_on_error, context,
                    control_extra, timeout=timeout,
                )  # fmt: skip
                sent.append((handler, handler.send_request(job_request, timeout)))
            except TransportError as error:
                if not catch_transport_errors:
                    raise
                sent.append(error)
        by_handler: dict[ServiceHandler, list[int]] = {}
        for item in sent:
            if not isinstance(item, Exception):
                by_handler.setdefault(item[0], []).append(item[1])

        def get_responses(wait: float | None) -> list[Any]:
            received: dict[tuple[ServiceHandler, int], JobResponse | Exception] = {}
            deadline = None if wait is None else time.monotonic() + wait
            for handler, request_ids in by_handler.items():
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    for request_id, response in handler.wait_for(
                        request_ids, remaining, give_up_on_timeout=not for_future
                    ).items():
                        received[(handler, request_id)] = response
                except TransportError as error:
                    if not catch_transport_errors:
                        raise
                    for request_id in request_ids:
                        received.setdefault((handler, request_id), error)
            results: list[Any] = []
            to_expand: list[ActionResponse] = []
            for item in sent:
                if isinstance(item, Exception):
                    results.append(item)
                    continue
                outcome = received[item]
                if isinstance(outcome, JobResponse):
                    self._check_errors(outcome, raise_job_errors, raise_action_errors)
                    to_expand.extend(outcome.actions)
                results.append(outcome)
            if expansions:
                self._expand(to_expand, expansions, timeout, switches, context)
            return results

        if for_future:
            for handler, request_ids in by_handler.items():
                handler.forget_later(get_responses, request_ids)
        return get_responses

    def close(self) -> None:
        """Close every service's transport."""
        for handler in self.handlers.values():
            handler.close()


def _first_action(response: JobResponse) -> ActionResponse:
    if response.errors:
        # Only reachable with raise_job_errors=False: the job's errors stand in for the action.
        return response.errors  # type: ignore[return-value]
    return response.actions[0]
