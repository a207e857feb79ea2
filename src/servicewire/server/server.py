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
from servicewire.client.client import Client
from servicewire.client.settings import ClientSettings
from servicewire.errors import (
    ERROR_CODE_ACTION_TIMEOUT,
    ERROR_CODE_JOB_TIMEOUT,
    ERROR_CODE_SERVER_ERROR,
    ERROR_CODE_UNKNOWN,
    ActionError,
    HarakiriInterrupt,
    ImproperlyConfigured,
    JobError,
)
from servicewire.logging import (
    RecursivelyCensoredDictWrapper,
    reset_log_context,
    set_log_action,
)
from servicewire.metrics import MetricName
from servicewire.server.action import ActionType
from servicewire.server.auxiliary.actions import AuxiliaryActions
from servicewire.server.builtin import IntrospectionAction, make_default_status_action_class
from servicewire.server.coroutine import AsyncEventLoopThread, CoroutineMiddleware
from servicewire.server.events import ServerEvents
from servicewire.server.invocation import ActionCalls, ActionFactory
from servicewire.server.middleware import ProcessAction, ProcessJob, ServerMiddleware
from servicewire.server.policies import with_job_scope
from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest, RequestSwitchSet
from servicewire.server.serving import Serving
from servicewire.server.settings import ServerSettings
from servicewire.server.switched import expand_switched_actions
from servicewire.server.validation import parse_job_request
from servicewire.server.workers import WorkerPool
from servicewire.transport.base import ServerTransport
from servicewire.types import ActionResponse, Context, Error, JobRequest, JobResponse

if TYPE_CHECKING:
    from servicewire.server.policies import Policy

__all__ = ["Server"]

_Response = TypeVar("_Response", ActionResponse, JobResponse)


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
    serving_class: ClassVar[type[Serving]] = Serving
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
        metrics = self.settings.metrics
        self.metrics = metrics.object(**metrics.kwargs)
        transport: ServerTransport | None = None
        if self.settings.transport is not None:
            reference = self.settings.transport
            transport = reference.object(
                self.service_name, self.metrics, forked_process_id or 1, **reference.kwargs
            )

        self.middleware: list[ServerMiddleware] = [
            reference.object(**reference.kwargs) for reference in self.settings.middleware
        ]
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
        self._calls = ActionCalls(
            self,
            self.settings,
            self._actions,
            self._action_factory,
            type(self).default_policy,
            self._scope_jobs,
        )
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
        self._auxiliary = (
            AuxiliaryActions(
                self,
                self.settings,
                self.auxiliary_action_map,
                self._actions,
                self._action_factory,
                self.middleware,
                self._run_coroutine,
            )
            if self.auxiliary_action_map
            else None
        )
        self.serving = self.serving_class(
            self,
            self.service_name,
            self.settings,
            self.metrics,
            self._events,
            self._auxiliary,
            transport,
        )

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

    def _scope_jobs(self) -> None:
        # Some policy reads whole jobs: make the job being processed available to it.
        self._process_job_stack = with_job_scope(self._process_job_stack)

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
        parsed = parse_job_request(job_request)
        if isinstance(parsed, list):
            self.serving.count(MetricName.SERVER_ERROR_JOB)
            return JobResponse(errors=parsed)
        return self.run_job(parsed)

    def run_job(self, job: JobRequest) -> JobResponse:
        """Run a validated job through the job middleware; return its :class:`JobResponse`
        (a job error or ``SERVER_ERROR`` response for what goes wrong, never an
        exception)."""
        try:
            context = job.context
            enriched = EnrichedJobRequest(
                control=job.control,
                context=context,
                actions=job.actions,
                client_factory=partial(self.make_client, context),
                run_coroutine=self._run_coroutine,
            )
            if self._events.active:
                self._events.emit("job_validated", job_request=enriched)
            response: JobResponse = self._process_job_stack(enriched)
            response.context["correlation_id"] = context["correlation_id"]
        except HarakiriInterrupt:
            self.serving.count(MetricName.SERVER_ERROR_HARAKIRI)
            return JobResponse(
                errors=[
                    Error(
                        code=ERROR_CODE_JOB_TIMEOUT,
                        message="The job ran for too long and had to be interrupted.",
                    )
                ]
            )
        except JobError as error:
            self.serving.count(MetricName.SERVER_ERROR_JOB)
            return JobResponse(errors=error.errors)
        except Exception as error:
            self.serving.count(MetricName.SERVER_ERROR_UNHANDLED)
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
            self.serving.count(MetricName.SERVER_ERROR_HARAKIRI)
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
            self.serving.count(MetricName.SERVER_ERROR_UNHANDLED)
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
    # The transport-facing half (receiving, answering, bad messages, request logging and
    # metrics) is self.serving, a servicewire.server.serving.Serving.

    def handle_next_request(self) -> None:
        """Receive one request from the transport, handle it and send its response.

        Returns after running the idle actions if no request arrives within the transport's
        receive timeout, and after answering (where it can) a message that could not be
        used.
        """
        self.serving.handle_next_request()

    @property
    def transport(self) -> ServerTransport | None:
        """The transport this server receives requests from and answers through."""
        return self.serving.transport

    @transport.setter
    def transport(self, transport: ServerTransport | None) -> None:
        self.serving.transport = transport

    @property
    def worker_pool(self) -> WorkerPool | None:
        """The pool running jobs while :meth:`run` serves with several ``workers``."""
        return self.serving.worker_pool

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
            self.serving.serve()
        finally:
            try:
                self.teardown()
            finally:
                if self.transport is not None:
                    self.transport.close()

    # --- process runtime --------------------------------------------------------------------
    # Server.main() runs the server as an operating-system process (signals, --fork, harakiri,
    # the heartbeat file; see servicewire.server.runtime). While it does, the runtime is
    # serving.runtime, told when a job starts and ends and when the server idles.

    # --- concurrency and call policies ------------------------------------------------------
    # With the workers setting above 1, run() starts a WorkerPool (servicewire.server.workers)
    # and handle_next_request hands each job to it; see docs/concurrency-and-security.md.

    default_policy: ClassVar[Policy | None] = None
    """The call policy of actions that have none (``status`` and ``introspect`` excepted);
    the ``default_policy`` setting replaces it. ``None``: such actions may be called."""

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
        runtime = self.serving.runtime
        if runtime is None:
            self.shutting_down = True
        else:
            runtime.shutdown_signal(signal_number)

    def harakiri(self, signal_number: int, frame: FrameType | None) -> None:
        """Handles the harakiri timer's signal: interrupts a job that ran too long (see
        ``servicewire.server.runtime``)."""
        runtime = self.serving.runtime
        if runtime is not None:
            runtime.harakiri(signal_number)

    @staticmethod
    def make_middleware_stack(middleware: list[Callable[[Any], Any]], base: Any) -> Any:
        """Chain ``middleware`` around ``base``, the first item outermost."""
        return make_middleware_stack(middleware, base)
