"""The server: receives jobs, runs their actions, sends the responses back."""

from __future__ import annotations

import copy
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from servicewire._middleware import make_middleware_stack
from servicewire._tracing import with_server_tracing
from servicewire.client.client import Client
from servicewire.client.settings import ClientSettings
from servicewire.errors import (
    ERROR_CODE_ACTION_TIMEOUT,
    ERROR_CODE_INVALID,
    ERROR_CODE_JOB_TIMEOUT,
    ERROR_CODE_RESPONSE_NOT_SERIALIZABLE,
    ERROR_CODE_RESPONSE_TOO_LARGE,
    ERROR_CODE_SERVER_ERROR,
    ERROR_CODE_UNKNOWN,
    ActionError,
    HarakiriInterrupt,
    ImproperlyConfigured,
    InvalidField,
    InvalidMessageError,
    JobError,
    MessageReceiveTimeout,
    MessageTooLarge,
)
from servicewire.logging import (
    RecursivelyCensoredDictWrapper,
    reset_log_context,
    set_log_action,
    set_log_context,
)
from servicewire.metrics import MetricName
from servicewire.server.action import ActionType
from servicewire.server.auxiliary.actions import AuxiliaryActions
from servicewire.server.builtin import IntrospectionAction, make_default_status_action_class
from servicewire.server.coroutine import AsyncEventLoopThread, CoroutineMiddleware
from servicewire.server.events import ServerEvents
from servicewire.server.invocation import ActionCalls, ActionFactory
from servicewire.server.middleware import ProcessAction, ProcessJob, ServerMiddleware
from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest, RequestSwitchSet
from servicewire.server.settings import ServerSettings
from servicewire.server.switched import expand_switched_actions
from servicewire.server.validation import validate_job_request
from servicewire.server.workers import WorkerPool
from servicewire.transport.base import ServerTransport
from servicewire.types import ActionRequest, ActionResponse, Context, Error, JobResponse

if TYPE_CHECKING:
    from servicewire.server.policies import Policy
    from servicewire.server.runtime import ProcessRuntime

__all__ = ["Server"]

_Response = TypeVar("_Response", ActionResponse, JobResponse)

# Error fields a PySOA client older than the given version does not understand.
_ERROR_FIELDS_BY_VERSION = (((0, 70, 0), "is_caller_error"), ((0, 44, 0), "denied_permissions"))
_OLDEST_CLIENT_VERSION = (0, 40, 0)
_CURRENT_CLIENT_VERSION = [0, 70, 0]


class Server:
    """Base class of services: subclass it, set ``service_name`` and ``action_class_map``.

    ``action_class_map`` maps action names to action classes (or to callables that take the
    settings and return a request handler, or to ``"module:Class"`` paths imported on first
    use). ``status`` and ``introspect`` are added unless the service defines them.
    ``description`` (or the class docstring) documents the service in ``introspect``.

    A server is built from settings (a :class:`ServerSettings` dict); its middleware stacks
    are built once, here. :meth:`process_job` handles one job dict; :meth:`run` serves
    requests from the configured transport until :attr:`shutting_down` is set.

    ``auxiliary_action_map`` maps action names to the auxiliary actions that run after
    them, once their job's response has been sent; ``events`` holds the event listeners of
    the class (or, on a server, of that server). See ``servicewire.server.auxiliary`` and
    ``servicewire.server.events``.
    """

    service_name: ClassVar[str]
    action_class_map: ClassVar[Mapping[str, ActionType | str]] = {}
    auxiliary_action_map: ClassVar[Mapping[str, Sequence[ActionType]]] = {}
    description: ClassVar[str | None] = None
    events: ServerEvents = ServerEvents(owner="Server")

    settings_class: ClassVar[type[ServerSettings]] = ServerSettings
    request_class: ClassVar[type[EnrichedActionRequest]] = EnrichedActionRequest
    client_class: ClassVar[type[Client]] = Client
    introspection_action: ClassVar[type[IntrospectionAction] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.events = ServerEvents.of_class(cls)

    def __init__(
        self,
        settings: ServerSettings | Mapping[str, Any],
        forked_process_id: int | None = None,
    ) -> None:
        if not isinstance(getattr(type(self), "service_name", None), str):
            raise ImproperlyConfigured(f"{type(self).__qualname__} must set service_name")
        self.settings: ServerSettings = self.settings_class.from_dict(settings)
        self.forked_process_id = forked_process_id
        self.shutting_down = False

        self.logger = logging.getLogger("servicewire.server")
        self.job_logger = logging.getLogger("servicewire.server.job")
        self.request_log_success_level: int = logging.getLevelName(
            self.settings.request_log_success_level
        )
        self.request_log_error_level: int = logging.getLevelName(
            self.settings.request_log_error_level
        )

        # If even the higher of the two levels is off, no request log line can be emitted.
        self._highest_request_log_level = max(
            self.request_log_success_level, self.request_log_error_level
        )

        metrics = self.settings.metrics
        self.metrics = metrics.object(**metrics.kwargs)
        self.transport: ServerTransport | None = None
        if self.settings.transport is not None:
            transport = self.settings.transport
            self.transport = transport.object(
                self.service_name, self.metrics, forked_process_id or 1, **transport.kwargs
            )

        self.middleware: list[ServerMiddleware] = [
            reference.object(**reference.kwargs) for reference in self.settings.middleware
        ]
        self.middleware = with_server_tracing(self.service_name, self.middleware)
        execute_job: ProcessJob = self.execute_job
        run_action: ProcessAction = self._run_action
        self._process_job_stack = make_middleware_stack(
            [middleware.job for middleware in self.middleware], execute_job
        )
        self._process_action_stack = make_middleware_stack(
            [middleware.action for middleware in self.middleware], run_action
        )
        self._actions = self._collect_actions()
        # Activation, policies and invokers (servicewire.server.invocation); a plain action
        # keeps the plain factory of its class.
        self._calls = ActionCalls(self, self._actions)
        self._action_factories: dict[str, ActionFactory] = self._calls.factories
        self._local_action_factories: dict[str, ActionFactory] = self._calls.local_factories
        self._client_routing: dict[str, ClientSettings] = dict(self.settings.client_routing)
        self._shared_client: Client | None = None
        self._shared_client_lock = threading.Lock()

        # The event loop behind request.run_coroutine and async actions (setup starts it).
        self.coroutine_middleware: list[CoroutineMiddleware] = [
            reference.object(**reference.kwargs) for reference in self.settings.coroutine_middleware
        ]
        self.event_loop_thread = AsyncEventLoopThread(
            self.coroutine_middleware,
            shutdown_timeout=self.settings.coroutine_shutdown_timeout,
            name=f"{self.service_name}-event-loop",
        )
        self._run_coroutine = self.event_loop_thread.run_coroutine

        # Observers and after-response work: while unused, each costs one test per site.
        # The server reads its listeners through _events, an attribute of the instance
        # alone: the interpreter reads those faster than one a class attribute shadows.
        self.events = self._events = ServerEvents(type(self).events, type(self).__qualname__, self)
        self._auxiliary = AuxiliaryActions(self) if self.auxiliary_action_map else None

    # --- actions --------------------------------------------------------------------------

    def _collect_actions(self) -> dict[str, ActionType | str]:
        actions: dict[str, ActionType | str] = dict(self.action_class_map)
        actions.setdefault("status", make_default_status_action_class(type(self)))
        actions.setdefault("introspect", self.introspection_action or IntrospectionAction)
        return actions

    def _action_factory(self, action: ActionType) -> Callable[[], Callable[..., ActionResponse]]:
        if getattr(action, "needs_server", False):
            return partial(action, self)  # type: ignore[arg-type]
        return partial(action, self.settings)

    def introspectable_actions(self, only: str | None = None) -> dict[str, ActionType]:
        """The actions ``introspect`` describes, by name (a switched action once per switch,
        as ``name[switch:N]``, and once as ``name[DEFAULT]``); with ``only``, those it may
        describe for that name. Actions given by import path are activated."""
        return expand_switched_actions(self._calls.activated(only))

    def _run_action(self, request: EnrichedActionRequest) -> ActionResponse:
        # The base of the action middleware stack.
        return self._action_factories[request.action]()(request)

    def run_local_action(
        self,
        request: EnrichedActionRequest,
        *,
        raise_action_errors: bool = True,
        is_caller_error: bool = False,
    ) -> ActionResponse:
        """Run ``request`` directly (no middleware); see ``request.call_local_action``."""
        factory = self._local_action_factories.get(request.action)
        if factory is None:
            errors = [self._unknown_action_error(request.action)]
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

    @staticmethod
    def _unknown_action_error(action: str) -> Error:
        return Error(
            code=ERROR_CODE_UNKNOWN,
            message=f'The action "{action}" was not found on this server.',
            field="action",
            is_caller_error=True,
        )

    # --- jobs -----------------------------------------------------------------------------

    def make_client(
        self, context: Context, extra_context: Context | None = None, **kwargs: Any
    ) -> Client:
        """A client for calling other services from within a job.

        It uses the ``client_routing`` settings and carries ``context`` (copied, without its
        ``caller``, plus ``extra_context``) with ``calling_service`` set to this service: each
        call then names its own call site as ``caller``, unless ``extra_context`` names one.
        Servers call this with ``context`` only, when an action first uses ``request.client``.

        Without ``kwargs``, the clients of every job share one set of connections (service
        handlers and transports), built on first use and closed by :meth:`teardown`. With
        ``kwargs`` (passed to the client's constructor), the client is new and has its own;
        closing it is the caller's business.
        """
        context = dict(context)
        # The job's caller called this service; the calls made here name their own call site.
        context.pop("caller", None)
        if extra_context:
            context.update(extra_context)
        context["calling_service"] = self.service_name
        if kwargs:
            return self.client_class(self._client_routing, context=context, **kwargs)
        shared = self._shared_client
        if shared is None:
            with self._shared_client_lock:
                if self._shared_client is None:
                    self._shared_client = self.client_class(self._client_routing)
                shared = self._shared_client
        # A shallow copy shares the handlers (and their lock) but not the context.
        client = copy.copy(shared)
        client.context = context
        return client

    def process_job(self, job_request: dict[str, Any]) -> JobResponse:
        """Validate a job request dict, run it through the job middleware, and return the
        :class:`JobResponse`."""
        try:
            validation_errors = validate_job_request(job_request)
            if validation_errors:
                raise JobError(validation_errors, set_is_caller_error_to=None)
            context = job_request["context"]
            job = EnrichedJobRequest(
                control=job_request["control"],
                context=context,
                actions=[
                    ActionRequest(action["action"], action.get("body") or {})
                    for action in job_request["actions"]
                ],
                client_factory=partial(self.make_client, context),
                run_coroutine=self._run_coroutine,
            )
            if self._events.active:
                self._events.emit("job_validated", job_request=job)
            response: JobResponse = self._process_job_stack(job)
            response.context["correlation_id"] = context["correlation_id"]
        except HarakiriInterrupt:
            self._count(MetricName.SERVER_ERROR_HARAKIRI)
            return JobResponse(
                errors=[
                    Error(
                        code=ERROR_CODE_JOB_TIMEOUT,
                        message="The job ran for too long and had to be interrupted.",
                    )
                ]
            )
        except JobError as error:
            self._count(MetricName.SERVER_ERROR_JOB)
            return JobResponse(errors=error.errors)
        except Exception as error:
            self._count(MetricName.SERVER_ERROR_UNHANDLED)
            return self.handle_unhandled_exception(error, JobResponse)
        return response

    def execute_job(self, job_request: EnrichedJobRequest) -> JobResponse:
        """Run the job's actions in order (the base of the job middleware stack).

        The job stops at the first action with errors unless the request set
        ``continue_on_error``.
        """
        response = JobResponse()
        context = job_request.context
        control = job_request.control
        switches = RequestSwitchSet(context["switches"])
        continue_on_error = control.get("continue_on_error", False)
        events = self._events
        observing = events.active
        for simple_request in job_request.actions:
            request = self.request_class(
                simple_request.action,
                simple_request.body,
                switches,
                context,
                control,
                run_coroutine=job_request.run_coroutine,
            )
            request._client_holder = job_request._client_holder
            request._server = self
            if observing:
                events.emit("action_call", action_request=request)
            action_response, stop = self._execute_action(request)
            if observing:
                events.action_done(request, action_response)
            response.actions.append(action_response)
            if stop or (action_response.errors and not continue_on_error):
                break
        return response

    def _execute_action(self, request: EnrichedActionRequest) -> tuple[ActionResponse, bool]:
        """Run one action through the middleware; return its response and whether the job
        must stop (after a harakiri interrupt)."""
        name = request.action
        if name not in self._action_factories:
            return ActionResponse(action=name, errors=[self._unknown_action_error(name)]), False
        token = set_log_action(name)
        try:
            if self.metrics.enabled:
                return self._run_timed_action(request), False
            return self._process_action_stack(request), False
        except HarakiriInterrupt:
            self._count(MetricName.SERVER_ERROR_HARAKIRI)
            error = Error(
                code=ERROR_CODE_ACTION_TIMEOUT,
                message=f'The action "{name}" ran for too long and had to be interrupted.',
            )
            return ActionResponse(action=name, errors=[error]), True
        except ActionError as error:
            return ActionResponse(action=name, errors=error.errors), False
        except JobError:
            raise
        except Exception as error:
            self._count(MetricName.SERVER_ERROR_UNHANDLED)
            return self.handle_unhandled_exception(error, ActionResponse, action=name), False
        finally:
            reset_log_context(token)

    def _run_timed_action(self, request: EnrichedActionRequest) -> ActionResponse:
        started = time.perf_counter()
        try:
            return self._process_action_stack(request)
        finally:
            self.metrics.timer(
                MetricName.SERVER_ACTION_RUN,
                time.perf_counter() - started,
                {"action": request.action},
            )

    def handle_unhandled_exception(
        self,
        exception: Exception,
        response_type: type[_Response],
        variables: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> _Response:
        """The last-ditch response for an unexpected exception: ``SERVER_ERROR`` with the
        traceback, logged."""
        try:
            message = f"Internal server error: {exception}"
        except Exception:
            message = f"Internal server error: {type(exception).__name__} (unprintable)"
        self.logger.exception("Unhandled exception: %s", message)
        formatted_variables = None
        if variables is not None:
            try:
                formatted_variables = {key: repr(value) for key, value in variables.items()}
            except Exception:
                formatted_variables = {"error": "variables could not be formatted"}
        error = Error(
            code=ERROR_CODE_SERVER_ERROR,
            message=message,
            traceback=traceback.format_exc(),
            variables=formatted_variables,
            is_caller_error=False,
        )
        return response_type(errors=[error], **kwargs)

    def handle_job_error_code(
        self,
        code: str,
        message: str,
        request_for_logging: RecursivelyCensoredDictWrapper,
        response_for_logging: RecursivelyCensoredDictWrapper,
        extra: dict[str, Any] | None = None,
    ) -> JobResponse:
        """The last-ditch response for a known failure (such as a response too large to
        send): a job error with ``code``, logged with the censored request and response."""
        data: dict[str, Any] = {"request": request_for_logging, "response": response_for_logging}
        if extra:
            data.update(extra)
        self.logger.error("%s: %s", message, data)
        return JobResponse(errors=[Error(code=code, message=message, is_caller_error=False)])

    # --- requests from the transport ------------------------------------------------------

    def handle_next_request(self) -> None:
        """Receive one request from the transport, handle it and send its response.

        Returns after running the idle actions if no request arrives within the transport's
        receive timeout, and after answering (where it can) a message that could not be
        used.
        """
        if self.transport is None:
            raise ImproperlyConfigured(f"Server {self.service_name!r} has no transport configured")
        runtime = self.process_runtime
        try:
            request_id, meta, job_request = self.transport.receive_request_message()
        except MessageReceiveTimeout:
            request_id = meta = job_request = None
        except InvalidMessageError as error:
            self.handle_bad_message(error)
            return
        if request_id is None or meta is None or job_request is None:
            self.perform_idle_actions()
            if runtime is not None:
                runtime.idle()
            return
        if self.worker_pool is not None:
            self.worker_pool.submit(request_id, meta, job_request)
            return
        if runtime is None:
            self.handle_request(request_id, meta, job_request)
            return
        runtime.job_started()
        try:
            self.handle_request(request_id, meta, job_request)
        finally:
            runtime.job_finished()

    def handle_request(self, request_id: int, meta: dict[str, Any], job_request: Any) -> None:
        """Handle one received request: process the job and send the response (unless the
        job asked for none)."""
        assert self.transport is not None
        metrics_enabled = self.metrics.enabled
        started = time.perf_counter() if metrics_enabled else 0.0
        is_dict = isinstance(job_request, dict)
        context = job_request.get("context") if is_dict else None
        correlation_id = context.get("correlation_id") if isinstance(context, dict) else None
        token = set_log_context(self.service_name, correlation_id, request_id, None)
        events = self._events
        observed = (
            events.job_received(self.transport, request_id, meta, job_request)
            if events.active
            else None
        )
        try:
            self.perform_pre_request_actions()
            if self.job_logger.isEnabledFor(self.request_log_success_level):
                self.job_logger.log(
                    self.request_log_success_level, "Job request: %s", self._censored(job_request)
                )
            processing = time.perf_counter() if metrics_enabled else 0.0
            response = self.process_job(job_request)
            if metrics_enabled:
                self.metrics.timer(MetricName.SERVER_JOB_PROCESS, time.perf_counter() - processing)
            response_dict = self._response_message(response, meta)
            control = job_request.get("control") if is_dict else None
            if not (isinstance(control, dict) and control.get("suppress_response")):
                response_dict = self._send_response(request_id, meta, response_dict, job_request)
            self._log_response(response_dict, job_request)
            if observed is not None:
                events.job_done(job_request, response_dict)
            if metrics_enabled:
                self._count_response_errors(response_dict)
        finally:
            reset_log_context(token)
            if observed is not None:
                events.request_done(observed)
            try:
                self.transport.complete_request_message(request_id, meta)
            finally:
                if metrics_enabled:
                    self.metrics.counter(MetricName.SERVER_REQUEST_RECEIVED)
                    self.metrics.timer(
                        MetricName.SERVER_REQUEST_HANDLE, time.perf_counter() - started
                    )
                self.perform_post_request_actions()
        # After the response has gone out and the request is complete: never delays it.
        if self._auxiliary is not None:
            self._auxiliary.dispatch(job_request, response)

    def _count_response_errors(self, message: dict[str, Any]) -> None:
        for error in message["errors"]:
            self.metrics.counter(MetricName.SERVER_JOB_ERROR, tags={"code": error["code"]})
        for action in message["actions"]:
            for error in action["errors"]:
                self.metrics.counter(
                    MetricName.SERVER_ACTION_ERROR,
                    tags={"action": action["action"], "code": error["code"]},
                )

    def _censored(self, message: Any) -> RecursivelyCensoredDictWrapper:
        return RecursivelyCensoredDictWrapper(message, self.settings.extra_fields_to_redact)

    def _response_message(self, response: JobResponse, meta: dict[str, Any]) -> dict[str, Any]:
        message = response.to_dict()
        client_version = meta.get("client_version")
        if type(client_version) is list and client_version >= _CURRENT_CLIENT_VERSION:
            return message
        version = _OLDEST_CLIENT_VERSION
        if isinstance(client_version, list | tuple) and all(
            type(part) is int for part in client_version
        ):
            version = tuple(client_version)
        if version < _ERROR_FIELDS_BY_VERSION[0][0]:
            # An older PySOA client fails on error fields it does not know; leave them out.
            removed = [field for since, field in _ERROR_FIELDS_BY_VERSION if version < since]
            errors = list(message["errors"])
            for action in message["actions"]:
                errors.extend(action["errors"])
            for error in errors:
                for field in removed:
                    error.pop(field, None)
        return message

    def _send_response(
        self,
        request_id: int,
        meta: dict[str, Any],
        message: dict[str, Any],
        job_request: Any,
    ) -> dict[str, Any]:
        assert self.transport is not None
        try:
            if self.metrics.enabled:
                self._send_timed(request_id, meta, message)
            else:
                self.transport.send_response_message(request_id, meta, message)
            return message
        except MessageTooLarge as error:
            self._count(MetricName.SERVER_ERROR_RESPONSE_TOO_LARGE)
            code = ERROR_CODE_RESPONSE_TOO_LARGE
            text = "Could not send the response because it was too large"
            extra = {"serialized_length_in_bytes": error.message_size_in_bytes}
        except InvalidField as error:
            self._count(MetricName.SERVER_ERROR_RESPONSE_NOT_SERIALIZABLE)
            code = ERROR_CODE_RESPONSE_NOT_SERIALIZABLE
            text = f"Could not send the response because it failed to serialize: {error}"
            extra = {}
        replacement = self.handle_job_error_code(
            code, text, self._censored(job_request), self._censored(message), extra
        )
        message = self._response_message(replacement, meta)
        self.transport.send_response_message(request_id, meta, message)
        return message

    def _send_timed(self, request_id: int, meta: dict[str, Any], message: dict[str, Any]) -> None:
        assert self.transport is not None
        started = time.perf_counter()
        self.transport.send_response_message(request_id, meta, message)
        self.metrics.timer(MetricName.SERVER_RESPONSE_SEND, time.perf_counter() - started)

    def _log_response(self, message: dict[str, Any], job_request: Any) -> None:
        if not self.job_logger.isEnabledFor(self._highest_request_log_level):
            return
        failed = bool(message["errors"]) or any(action["errors"] for action in message["actions"])
        level = self.request_log_error_level if failed else self.request_log_success_level
        if not self.job_logger.isEnabledFor(level):
            return
        if failed and not self.job_logger.isEnabledFor(self.request_log_success_level):
            # The request was not logged on arrival; log it with its failed response.
            self.job_logger.log(level, "Job request: %s", self._censored(job_request))
        self.job_logger.log(level, "Job response: %s", self._censored(message))

    def handle_bad_message(self, error: InvalidMessageError) -> None:
        """A received message could not be used: log it, count it and, when the sender's
        reply route is known, answer it with an ``INVALID`` job error."""
        assert self.transport is not None
        self._count(MetricName.SERVER_ERROR_BAD_MESSAGE)
        self.logger.warning("Received a bad message: %s", error)
        if self._events.active:
            self._events.emit("request_bad_message", error=error)
        if error.request_id is None or error.meta is None:
            return
        response = JobResponse(
            errors=[Error(code=ERROR_CODE_INVALID, message=f"Bad request message: {error}")]
        )
        try:
            self.transport.send_response_message(
                error.request_id, error.meta, self._response_message(response, error.meta)
            )
        except Exception:
            self.logger.exception("Could not answer the bad message %s", error.request_id)

    def _count(self, name: str) -> None:
        if self.metrics.enabled:
            self.metrics.counter(name)

    # --- lifecycle ------------------------------------------------------------------------

    @classmethod
    def initialize(cls, settings: ServerSettings) -> type[Server]:
        """Called before the server is built, with its settings; return the class to build
        (``cls`` or a replacement). Overrides must call ``super()``."""
        return cls

    def setup(self) -> None:
        """Runs once before the server starts serving (load caches, open connections).
        Overrides must call ``super()``: it starts the event loop behind
        ``request.run_coroutine``, initializes the auxiliary processors and emits
        ``server_start``."""
        self.event_loop_thread.start()
        if self._auxiliary is not None:
            self._auxiliary.initialize()
        if self._events.active:
            self._events.emit("server_start")

    def teardown(self) -> None:
        """Runs once after the server stops serving. Overrides must call ``super()``: it
        emits ``server_stop``, lets the auxiliary processors finish their pending work (for
        up to ``auxiliary_shutdown_timeout`` seconds), stops the event loop (waiting up to
        ``coroutine_shutdown_timeout`` seconds for the coroutines still running) and closes
        the connections of ``request.client``."""
        if self._events.active:
            self._events.emit("server_stop")
        if self._auxiliary is not None:
            self._auxiliary.shutdown()
        try:
            self.event_loop_thread.stop()
        finally:
            if self._shared_client is not None:
                self._shared_client.close()
                self._shared_client = None

    def perform_pre_request_actions(self) -> None:
        """Runs before each request is processed. Overrides must call ``super()``."""

    def perform_post_request_actions(self) -> None:
        """Runs after each request is processed. Overrides must call ``super()``."""
        if self.metrics.enabled:
            self.metrics.flush()

    def perform_idle_actions(self) -> None:
        """Runs when no request arrived within the receive timeout. Overrides must call
        ``super()``."""
        if self.metrics.enabled:
            self.metrics.flush()
        if self._events.active:
            self._events.emit("server_idle")

    def run(self) -> None:
        """Serve requests from the transport until :attr:`shutting_down` becomes true.

        An exception while handling one request is logged and the next request is served.
        With the ``workers`` setting above 1, the jobs run on a :attr:`worker_pool`, and
        those taken are finished and answered before ``teardown``.
        """
        self.setup()
        try:
            if self.settings.workers > 1:
                self.worker_pool = WorkerPool(self, self.settings.workers)
            while not self.shutting_down:
                try:
                    self.handle_next_request()
                except Exception:
                    self._count(MetricName.SERVER_ERROR_REQUEST_HANDLING)
                    self.logger.exception("Error while handling a request; serving on")
            if self.worker_pool is not None:
                self.worker_pool.finish()  # the jobs taken are finished and answered
        finally:
            self.worker_pool = None
            try:
                self.teardown()
            finally:
                if self.transport is not None:
                    self.transport.close()

    # --- process runtime --------------------------------------------------------------------
    # Server.main() runs the server as an operating-system process (signals, --fork, harakiri,
    # the heartbeat file; see servicewire.server.runtime). While it does, process_runtime is
    # set, and handle_next_request tells it when a job starts and ends and when the server
    # idles.

    process_runtime: ProcessRuntime | None = None

    # --- concurrency and call policies ------------------------------------------------------
    # With the workers setting above 1, run() starts a WorkerPool (servicewire.server.workers)
    # and handle_next_request hands each job to it; see docs/concurrency-and-security.md.

    default_policy: ClassVar[Policy | None] = None
    """The call policy of actions that have none (``status`` and ``introspect`` excepted);
    the ``default_policy`` setting replaces it. ``None``: such actions may be called."""

    worker_pool: WorkerPool | None = None
    """The pool running jobs while :meth:`run` serves with several ``workers``."""

    @classmethod
    def main(cls, forked_process_id: int | None = None, argv: Sequence[str] | None = None) -> None:
        """Command-line entry point: run this server as a process until it is stopped.

        Options (from ``argv``, default ``sys.argv[1:]``): ``-s/--settings MODULE`` (a module
        defining ``SOA_SERVER_SETTINGS`` or ``settings``), ``-f/--fork N``, ``--no-respawn``,
        ``-d/--daemon``. The chain of calls, in each worker process: ``cls.initialize`` (which
        returns the class to build), ``__init__``, then ``run``: ``setup``, the serving loop
        (``handle_next_request`` until ``shutting_down``), ``teardown``. Exits the
        interpreter with a non-zero status after a failure, a harakiri or bad settings.
        """
        from servicewire.server.runtime import main

        status = main(cls, argv, forked_process_id)
        if status:
            raise SystemExit(status)

    @classmethod
    def pre_fork(cls) -> None:
        """Called once in the supervisor process with ``--fork``, after its signal handlers
        are set and before the workers are forked (never again when a worker is
        respawned)."""

    def handle_shutdown_signal(self, signal_number: int, frame: FrameType | None) -> None:
        """Handles SIGTERM and SIGINT: the current job finishes, then the server stops; a
        second signal forces the exit."""
        if self.process_runtime is None:
            self.shutting_down = True
        else:
            self.process_runtime.shutdown_signal(signal_number)

    def harakiri(self, signal_number: int, frame: FrameType | None) -> None:
        """Handles the harakiri timer's signal: interrupts a job that ran too long (see
        ``servicewire.server.runtime``)."""
        if self.process_runtime is not None:
            self.process_runtime.harakiri(signal_number)

    @staticmethod
    def make_middleware_stack(middleware: list[Callable[[Any], Any]], base: Any) -> Any:
        """Chain ``middleware`` around ``base``, the first item outermost."""
        return make_middleware_stack(middleware, base)
