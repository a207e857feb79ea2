"""The client: calling actions on services, one job at a time or many in parallel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from servicewire.client.base import (
    ActionArgument,
    BaseClient,
    CallOptions,
    Expansions,
    Switches,
    first_action,
)
from servicewire.client.expander import expansion_steps
from servicewire.client.futures import FutureResponse
from servicewire.client.handler import ServiceHandler
from servicewire.client.options import DEFAULT_OPTIONS, call_options
from servicewire.client.settings import ClientSettings
from servicewire.errors import TransportError
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


class Client(BaseClient):
    """Calls actions on services.

    ``config`` maps each service name to its settings (a :class:`ClientSettings` dict:
    ``transport``, ``middleware``, ``metrics``); they are validated here, once. ``context``
    is a base context sent with every job (each call can add to and override it).

    Every ``call_*`` method raises :class:`~servicewire.CallJobError` for job errors (unless
    ``raise_job_errors=False``) and :class:`~servicewire.CallActionError` for action errors
    (unless ``raise_action_errors=False``), and transport errors as they happen. ``timeout``
    bounds the whole wait for the call's replies and sets how long requests live in queues.
    """

    handler_class: ClassVar[type[ServiceHandler]] = ServiceHandler

    def __init__(
        self,
        config: Mapping[str, Mapping[str, Any] | ClientSettings],
        expansion_config: Mapping[str, Any] | None = None,
        settings_class: type[ClientSettings] | None = None,
        context: Context | None = None,
    ) -> None:
        super().__init__(config, expansion_config, settings_class, context)
        self.handlers: dict[str, ServiceHandler] = {}
        self._handlers_lock = threading.Lock()

    # --- plumbing -------------------------------------------------------------------------

    def _get_handler(self, service_name: str) -> ServiceHandler:
        try:
            return self.handlers[service_name]
        except KeyError:
            pass
        with self._handlers_lock:
            if service_name not in self.handlers:
                settings = self._settings_for(service_name)
                self.handlers[service_name] = self.handler_class(service_name, settings)
            return self.handlers[service_name]

    def _expand(self, action_responses: Sequence[ActionResponse], options: CallOptions) -> None:
        """Run the expansions, level by level, each level's calls in parallel."""
        if not options.expansions:
            return
        steps = expansion_steps(self._expansion_settings(), action_responses, options.expansions)
        expansion_options = options.for_expansions()
        try:
            calls = next(steps)
            while True:
                results = self._call_jobs(self._expansion_jobs(calls), expansion_options)(
                    options.timeout
                )
                calls = steps.send(results)
        except StopIteration:
            return

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
        options = call_options(
            timeout=message_expiry_in_seconds,
            switches=switches,
            correlation_id=correlation_id,
            continue_on_error=continue_on_error,
            context=context,
            control_extra=control_extra,
        )
        job = self._make_job(
            actions,
            options,
            correlation_id,
            self._caller(context, 1),
            suppress_response=suppress_response,
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
        options = call_options(
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            continue_on_error=continue_on_error,
            context=context,
            control_extra=control_extra,
        )
        handler, request_id = self._send_job(service_name, actions, options, awaited=True)
        return self._job_response(handler, request_id, timeout, True, options)

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
        options = call_options(
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            continue_on_error=continue_on_error,
            context=context,
            control_extra=control_extra,
        )
        handler, request_id = self._send_job(service_name, actions, options)
        return self._future(self._later_job_response(handler, request_id, options), timeout)

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
        if (
            expansions is None
            and raise_job_errors is True
            and raise_action_errors is True
            and timeout is None
            and switches is None
            and correlation_id is None
            and context is None
            and control_extra is None
        ):
            # A call with no options, the most common by far: sent and read here, without
            # the helpers that options need (expansions, timeouts, a given correlation id).
            handler = self.handlers.get(service_name) or self._get_handler(service_name)
            # What _make_job makes of one action request and the default options.
            job = JobRequest(
                {"continue_on_error": False, "suppress_response": False},
                self._make_context(DEFAULT_OPTIONS, None, self._caller(None, 1)),
                [ActionRequest(action, body if body is not None else {})],
            )
            response = handler.wait_for_one(handler.send_request(job, receive_follows=True))
            self._check_errors(response, DEFAULT_OPTIONS)
            return response.actions[0]
        options = call_options(
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            context=context,
            control_extra=control_extra,
        )
        request = ActionRequest(action, body if body is not None else {})
        handler, request_id = self._send_job(service_name, (request,), options, awaited=True)
        return first_action(self._job_response(handler, request_id, timeout, True, options))

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
        options = call_options(
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            context=context,
            control_extra=control_extra,
        )
        request = ActionRequest(action, body if body is not None else {})
        handler, request_id = self._send_job(service_name, (request,), options)
        get_job = self._later_job_response(handler, request_id, options)
        return self._future(lambda wait: first_action(get_job(wait)), timeout)

    def _send_job(
        self,
        service_name: str,
        actions: Iterable[ActionArgument],
        options: CallOptions,
        *,
        awaited: bool = False,
    ) -> tuple[ServiceHandler, int]:
        """Build and send one job; return its handler and request id. ``awaited``: the
        reply is waited for at once (the transport may send the request with that wait)."""
        if options.expansions:
            self._check_expansions(options.expansions)
        handler = self._get_handler(service_name)
        job = self._make_job(
            actions, options, options.correlation_id, self._caller(options.context)
        )
        return handler, handler.send_request(job, options.timeout, receive_follows=awaited)

    def _job_response(
        self,
        handler: ServiceHandler,
        request_id: int,
        wait: float | None,
        give_up_on_timeout: bool,
        options: CallOptions,
    ) -> JobResponse:
        """Wait for the reply to one job (at most ``wait``), check it and expand it."""
        response = handler.wait_for_one(request_id, wait, give_up_on_timeout=give_up_on_timeout)
        self._check_errors(response, options)
        if options.expansions:
            self._expand(response.actions, options)
        return response

    def _later_job_response(
        self, handler: ServiceHandler, request_id: int, options: CallOptions
    ) -> Callable[[float | None], JobResponse]:
        """The function a future calls to get the reply to one job (its request is forgotten
        when the function is)."""

        def get_response(wait: float | None) -> JobResponse:
            return self._job_response(handler, request_id, wait, False, options)

        handler.forget_later(get_response, (request_id,))
        return get_response

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
        options = call_options(
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            catch_transport_errors=catch_transport_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            continue_on_error=continue_on_error,
            context=context,
            control_extra=control_extra,
        )
        return self._call_jobs(jobs, options)(timeout)

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
        options = call_options(
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            catch_transport_errors=catch_transport_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            continue_on_error=continue_on_error,
            context=context,
            control_extra=control_extra,
        )
        return self._future(self._call_jobs(jobs, options, for_future=True), timeout)

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
            service_name,
            actions,
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            catch_transport_errors=catch_transport_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            context=context,
            control_extra=control_extra,
        ).result()

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
        options = call_options(
            expansions=expansions,
            raise_job_errors=raise_job_errors,
            raise_action_errors=raise_action_errors,
            catch_transport_errors=catch_transport_errors,
            timeout=timeout,
            switches=switches,
            correlation_id=correlation_id,
            context=context,
            control_extra=control_extra,
        )
        get_jobs = self._call_jobs(
            ({"service_name": service_name, "actions": [action]} for action in actions),
            options,
            for_future=True,
        )

        def get_actions(wait: float | None) -> Generator[Any, None, None]:
            # Wait here, not in the generator, so that errors surface from result().
            jobs = get_jobs(wait)
            return (job if isinstance(job, Exception) else first_action(job) for job in jobs)

        return self._future(get_actions, timeout)

    def _call_jobs(
        self,
        jobs: Iterable[Mapping[str, Any]],
        options: CallOptions,
        *,
        for_future: bool = False,
    ) -> Callable[[float | None], list[Any]]:
        """Send every job now; return the function that waits for and checks the responses."""
        if options.expansions:
            self._check_expansions(options.expansions)
        catch_transport_errors = options.catch_transport_errors
        correlation_id = self._shared_correlation_id(options)
        caller = self._caller(options.context)
        sent: list[tuple[ServiceHandler, int] | Exception] = []
        for job in jobs:
            try:
                handler = self._get_handler(job["service_name"])
                job_request = self._make_job(job["actions"], options, correlation_id, caller)
                sent.append((handler, handler.send_request(job_request, options.timeout)))
            except TransportError as error:
                if not catch_transport_errors:
                    raise
                sent.append(error)
        by_handler: dict[ServiceHandler, list[int]] = {}
        for item in sent:
            if not isinstance(item, Exception):
                by_handler.setdefault(item[0], []).append(item[1])

        # The replies that arrived, per service: kept when a wait fails part-way, to be
        # returned beside the errors, or when a future is read again.
        arrived: dict[ServiceHandler, dict[int, JobResponse]] = {
            handler: {} for handler in by_handler
        }

        def get_responses(wait: float | None) -> list[Any]:
            received: dict[tuple[ServiceHandler, int], JobResponse | Exception] = {}
            deadline = None if wait is None else time.monotonic() + wait
            for handler, request_ids in by_handler.items():
                replies = arrived[handler]
                missing = [request_id for request_id in request_ids if request_id not in replies]
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    handler.wait_for(
                        missing, remaining, give_up_on_timeout=not for_future, into=replies
                    )
                except TransportError as error:
                    if not catch_transport_errors:
                        raise
                    for request_id in request_ids:
                        received[(handler, request_id)] = replies.get(request_id, error)
                else:
                    for request_id in request_ids:
                        received[(handler, request_id)] = replies[request_id]
            results, to_expand = self._job_results(sent, received, options)
            if options.expansions:
                self._expand(to_expand, options)
            return results

        if for_future:
            for handler, request_ids in by_handler.items():
                handler.forget_later(get_responses, request_ids)
        return get_responses

    def close(self) -> None:
        """Close every service's transport."""
        for handler in self.handlers.values():
            handler.close()
