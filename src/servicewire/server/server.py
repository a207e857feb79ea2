"""The server: receives jobs, runs their actions, sends the responses back."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from servicewire._middleware import make_middleware_stack
from servicewire._tracing import with_server_tracing
from servicewire.client.client import Client
from servicewire.errors import (
    HarakiriInterrupt,
    ImproperlyConfigured,
    JobError,
)
from servicewire.logging import (
    RecursivelyCensoredDictWrapper,
)
from servicewire.metrics import MetricName
from servicewire.server.action import ActionType
from servicewire.server.auxiliary.actions import AuxiliaryActions
from servicewire.server.builtin import IntrospectionAction, make_default_status_action_class
from servicewire.server.coroutine import AsyncEventLoopThread, CoroutineMiddleware
from servicewire.server.events import ServerEvents
from servicewire.server.execution import ActionExecutor
from servicewire.server.invocation import ActionCalls
from servicewire.server.job_clients import JobClients
from servicewire.server.last_ditch import (
    job_timeout_response,
    known_failure_response,
    unhandled_exception_response,
)
from servicewire.server.middleware import ProcessJob, ServerMiddleware
from servicewire.server.policies import with_job_scope
from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest
from servicewire.server.serving import Serving
from servicewire.server.settings import ServerSettings
from servicewire.server.switched import expand_switched_actions
from servicewire.server.validation import parse_job_request
from servicewire.server.workers import WorkerPool
from servicewire.transport.base import ServerTransport
from servicewire.types import ActionResponse, Context, JobRequest, JobResponse

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
        self.middleware = with_server_tracing(self.service_name, self.middleware)
        execute_job: ProcessJob = self.execute_job
        self._process_job_stack = make_middleware_stack(
            [middleware.job for middleware in self.middleware], execute_job
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
        # Observers and after-response work: while unused, each costs one test per site.
        # The server reads its listeners through _events, an attribute of the instance
        # alone: the interpreter reads those faster than one a class attribute shadows.
        self.events = self._events = ServerEvents(type(self).events, type(self).__qualname__, self)
        self._executor = ActionExecutor(
            self._calls.factories,
            self.middleware,
            self.metrics,
            self._events,
            self.handle_unhandled_exception,
            self._count,
        )
        self._clients = JobClients(
            self.service_name, self.client_class, self.settings.client_routing
        )

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
        self.serving = self.serving_class(self, self._events, self._auxiliary, transport)

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

    def run_local_action(
        self,
        request: EnrichedActionRequest,
        *,
        raise_action_errors: bool = True,
        is_caller_error: bool = False,
    ) -> ActionResponse:
        """Run ``request`` directly (no middleware); see ``request.call_local_action``."""
        return self._calls.run_local(
            request, raise_action_errors=raise_action_errors, is_caller_error=is_caller_error
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
        return self._clients.make(context, extra_context, **kwargs)

    def process_job(self, job_request: dict[str, Any]) -> JobResponse:
        """Validate a job request dict, run it through the job middleware, and return the
        :class:`JobResponse`."""
        parsed = parse_job_request(job_request)
        if isinstance(parsed, list):
            self._count(MetricName.SERVER_ERROR_JOB)
            return JobResponse(errors=parsed)
        return self.run_job(parsed)

    def run_job(self, job: JobRequest) -> JobResponse:
        """Run a validated job through the job middleware; return its :class:`JobResponse`
        (a job error or ``SERVER_ERROR`` response for what goes wrong, never an
        exception)."""
        try:
            context = job.context
            enriched = EnrichedJobRequest(
                job.control,
                context,
                job.actions,
                None,
                self._run_coroutine,
                client_factory=partial(self.make_client, context),
            )
            if self._events.active:
                self._events.emit("job_validated", job_request=enriched)
            response: JobResponse = self._process_job_stack(enriched)
            response.context["correlation_id"] = context["correlation_id"]
        except HarakiriInterrupt:
            self._count(MetricName.SERVER_ERROR_HARAKIRI)
            return job_timeout_response("The job ran for too long and had to be interrupted.")
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
        return self._executor.execute_job(job_request, self.request_class, self)

    def handle_unhandled_exception(
        self,
        exception: Exception,
        response_type: type[_Response],
        variables: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> _Response:
        """The last-ditch response for an unexpected exception: ``SERVER_ERROR`` with the
        traceback, logged."""
        return unhandled_exception_response(
            self.logger, exception, response_type, variables, **kwargs
        )

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
        return known_failure_response(
            self.logger, code, message, request_for_logging, response_for_logging, extra
        )

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
            self._clients.close()

    def perform_pre_request_actions(self) -> None:
        """Runs before each request is processed. Overrides must call ``super()``."""

    def perform_post_request_actions(self) -> None:
        """Runs after each request is processed. Overrides must call ``super()``."""
        if self.metrics.enabled:
            self.metrics.flush()

    @property
    def post_request_actions_overridden(self) -> bool:
        """Whether this class has post-request actions of its own (then a response is never
        held back for the next receive, which would wait for them)."""
        return type(self).perform_post_request_actions is not Server.perform_post_request_actions

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

    # --- process runtime and call policies ---------------------------------------------------
    # Server.main() runs the server as an operating-system process (servicewire.server.runtime;
    # while it does, the runtime is serving.runtime). See docs/concurrency-and-security.md.

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
