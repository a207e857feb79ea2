"""The asyncio client: the calls of :class:`~servicewire.Client`, as coroutines.

It shares the sync client's protocol code (:class:`~servicewire.client.base.BaseClient`:
settings, contexts, jobs, error checks, expansion planning) and differs only in its I/O: each
service's asyncio transport (the one its transport class names in
``async_transport_class``) and a handler that matches replies to waiting calls by request id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar

from typing_extensions import Self

from servicewire.client.aio_handler import AsyncServiceHandler, async_transport_class
from servicewire.client.base import (
    ActionArgument,
    BaseClient,
    CallOptions,
    Expansions,
    Switches,
    first_action,
)
from servicewire.client.expander import expansion_steps
from servicewire.client.options import call_options
from servicewire.client.settings import ClientSettings
from servicewire.errors import ClientError, TransportError
from servicewire.transport.base import AsyncClientTransport
from servicewire.types import ActionRequest, ActionResponse, Body, Context, Control, JobResponse

__all__ = ["AsyncClient"]

_Sent = tuple[AsyncServiceHandler, int]


class AsyncClient(BaseClient):
    """Calls actions on services from asyncio code.

    The constructor and every call take the parameters of :class:`~servicewire.Client`, with
    the same defaults and meaning; the calls are coroutines::

        async with AsyncClient(config) as client:
            response = await client.call_action("greeter", "greet", {"name": "Ada"})

    ``call_actions_parallel`` and ``call_jobs_parallel`` return lists in request order. There
    are no ``*_future`` methods: wrap a call in :func:`asyncio.create_task` instead.

    Each service's transport is the asyncio twin of the configured one, built with the same
    keyword arguments; a service whose transport has none is ``ImproperlyConfigured`` here, at
    construction. Many calls may run at once on one client; it belongs to the event loop
    that first uses it. Close it with :meth:`aclose` or ``async with``.

    Client middleware run as in the sync client, with one difference of timing: the request
    wrappers all run, in order, before the send to the transport is awaited (so they do not
    see send errors), and the response wrappers run once per reply, in the task that reads
    the replies (they see each reply and each receive error, not the timeouts of waiting
    calls).
    """

    handler_class: ClassVar[type[AsyncServiceHandler]] = AsyncServiceHandler

    def __init__(
        self,
        config: Mapping[str, Mapping[str, Any] | ClientSettings],
        expansion_config: Mapping[str, Any] | None = None,
        settings_class: type[ClientSettings] | None = None,
        context: Context | None = None,
    ) -> None:
        super().__init__(config, expansion_config, settings_class, context)
        self._transport_classes: dict[str, type[AsyncClientTransport]] = {
            service_name: async_transport_class(service_name, settings)
            for service_name, settings in self.settings.items()
        }
        self.handlers: dict[str, AsyncServiceHandler] = {}
        self._closed = False

    def _get_handler(self, service_name: str) -> AsyncServiceHandler:
        try:
            return self.handlers[service_name]
        except KeyError:
            pass
        if self._closed:
            raise ClientError("This AsyncClient is closed")
        settings = self._settings_for(service_name)
        handler = self.handlers[service_name] = self.handler_class(
            service_name, settings, self._transport_classes.get(service_name)
        )
        return handler

    # --- sending and receiving ------------------------------------------------------------

    async def send_request(
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
        """Build and send a job; return its request id. Collect the reply with
        :meth:`get_all_responses` from the same task (replies a task leaves uncollected are
        dropped when it ends). With ``suppress_response`` the service sends no reply."""
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
        return await handler.send_request(
            job, message_expiry_in_seconds, expect_response=not suppress_response
        )

    def get_all_responses(
        self, service_name: str, receive_timeout_in_seconds: int | float | None = None
    ) -> AsyncGenerator[tuple[int, JobResponse], None]:
        """``async for request_id, job_response in ...``: the replies to the requests this
        task sent to ``service_name`` with :meth:`send_request`, as they arrive."""
        return self._get_handler(service_name).get_all_responses(receive_timeout_in_seconds)

    # --- calls ----------------------------------------------------------------------------

    async def call_action(
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
        """Call one action and return its :class:`ActionResponse` (or, with
        ``raise_job_errors=False``, the job's errors if the job failed)."""
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
        (response,) = await self._call_jobs(
            ({"service_name": service_name, "actions": (request,)},), options
        )
        return first_action(response)

    async def call_actions(
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
        response: JobResponse
        (response,) = await self._call_jobs(
            ({"service_name": service_name, "actions": actions},), options
        )
        return response

    async def call_actions_parallel(
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
    ) -> list[Any]:
        """Send each action as its own job, all at once, and return their responses in
        order. Items may be exceptions (``catch_transport_errors``) or lists of job errors
        (``raise_job_errors=False``) in place of action responses."""
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
        jobs = await self._call_jobs(
            ({"service_name": service_name, "actions": (action,)} for action in actions), options
        )
        return [job if isinstance(job, Exception) else first_action(job) for job in jobs]

    async def call_jobs_parallel(
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
    ) -> list[Any]:
        """Send several jobs (``{"service_name": ..., "actions": [...]}``), to one or more
        services, at once, and return their responses in the order of ``jobs``."""
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
        return await self._call_jobs(jobs, options)

    async def _call_jobs(
        self, jobs: Iterable[Mapping[str, Any]], options: CallOptions
    ) -> list[Any]:
        """Send every job, wait for the replies (``timeout`` bounding the whole wait), check
        them and expand them; every call style comes down to this."""
        if options.expansions:
            self._check_expansions(options.expansions)
        timeout = options.timeout
        correlation_id = self._shared_correlation_id(options)
        caller = self._caller(options.context)
        sent: list[_Sent | Exception] = []
        futures: dict[_Sent, asyncio.Future[JobResponse]] = {}
        try:
            for job in jobs:
                try:
                    handler = self._get_handler(job["service_name"])
                    job_request = self._make_job(job["actions"], options, correlation_id, caller)
                    request_id, future = await handler.send_job(
                        job_request, timeout, has_deadline=timeout is not None
                    )
                except TransportError as error:
                    if not options.catch_transport_errors:
                        raise
                    sent.append(error)
                    continue
                sent.append((handler, request_id))
                futures[(handler, request_id)] = future
            received = await self._wait(futures, timeout)
        finally:
            # Whatever ended the call (a timeout, an error, a cancellation), leave nothing
            # waiting behind it.
            for (handler, request_id), future in futures.items():
                if not future.done():
                    handler.give_up((request_id,))
                elif not future.cancelled():
                    future.exception()  # retrieved, so that asyncio does not log it as lost
        results, to_expand = self._job_results(sent, received, options)
        if options.expansions:
            await self._expand(to_expand, options)
        return results

    @staticmethod
    async def _wait(
        futures: Mapping[_Sent, asyncio.Future[JobResponse]], timeout: int | float | None
    ) -> dict[_Sent, JobResponse | Exception]:
        """The outcome of each future once all are done or ``timeout`` has passed: missing
        replies get a ``MessageReceiveTimeout`` naming the requests each service left
        unanswered."""
        if futures:
            await asyncio.wait(futures.values(), timeout=timeout)
        missing_by_handler: dict[AsyncServiceHandler, list[int]] = {}
        for (handler, request_id), future in futures.items():
            if not future.done():
                missing_by_handler.setdefault(handler, []).append(request_id)
        timeouts = {
            handler: handler._timeout_error(request_ids)
            for handler, request_ids in missing_by_handler.items()
        }
        received: dict[_Sent, JobResponse | Exception] = {}
        for key, future in futures.items():
            if not future.done():
                received[key] = timeouts[key[0]]
            elif future.cancelled():
                received[key] = key[0]._no_reply_error((key[1],))
            else:
                error = future.exception()
                received[key] = error if isinstance(error, Exception) else future.result()
        return received

    async def _expand(
        self, action_responses: Sequence[ActionResponse], options: CallOptions
    ) -> None:
        """Run the expansions, level by level, each level's calls in parallel."""
        steps = expansion_steps(
            self._expansion_settings(), action_responses, options.expansions or {}
        )
        expansion_options = options.for_expansions()
        try:
            calls = next(steps)
            while True:
                results = await self._call_jobs(self._expansion_jobs(calls), expansion_options)
                calls = steps.send(results)
        except StopIteration:
            return

    # --- closing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every service's transport; calls still waiting fail with
        ``MessageReceiveError``. The client cannot be used afterwards."""
        self._closed = True
        handlers, self.handlers = list(self.handlers.values()), {}
        failures: list[Exception] = []
        for handler in handlers:
            # One transport failing to close must not leave the others open.
            try:
                await handler.aclose()
            except Exception as error:
                failures.append(error)
        if failures:
            raise failures[0]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
