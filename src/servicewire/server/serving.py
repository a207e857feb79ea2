"""Serving: the transport-facing half of a server.

A :class:`Serving` receives requests from the server's transport, parses each once
(:func:`~servicewire.server.received.parse_request`), has the server run its job, answers
it, logs and counts it, and completes it; it also answers the messages that cannot be
used. ``Server`` (the programming model: actions, middleware, settings) builds one as
``server.serving`` and delegates ``handle_next_request`` and ``run``'s loop to it.

The interface the worker pool and the process runtime use:

- :meth:`handle_next_request` receives one request and handles it (on the serving thread,
  or on a worker of :attr:`worker_pool`);
- :meth:`handle_request` handles one parsed request: run, answer, log, count, complete,
  then the auxiliary actions (what a worker thread runs);
- :meth:`response_message` is the wire dict of a response for a caller's protocol level,
  and :meth:`answer` sends one to a request's caller, unless it asked for none;
- :attr:`runtime` is the process runtime while ``Server.main()`` runs the server (it is
  told when jobs start and end, and when the server idles); :attr:`worker_pool` the pool
  while :meth:`serve` runs with several ``workers``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from servicewire.errors import (
    ERROR_CODE_INVALID,
    ERROR_CODE_RESPONSE_NOT_SERIALIZABLE,
    ERROR_CODE_RESPONSE_TOO_LARGE,
    ImproperlyConfigured,
    InvalidField,
    InvalidMessageError,
    MessageReceiveTimeout,
    MessageTooLarge,
)
from servicewire.logging import RecursivelyCensoredDictWrapper, reset_log_context, set_log_context
from servicewire.metrics import MetricName, MetricsRecorder
from servicewire.server.received import ReceivedRequest, parse_request, read_client_version
from servicewire.server.workers import WorkerPool
from servicewire.transport.base import response_sender
from servicewire.types import Error, JobRequest, JobResponse

if TYPE_CHECKING:
    from servicewire.server.auxiliary.actions import AuxiliaryActions
    from servicewire.server.events import ServerEvents
    from servicewire.server.settings import ServerSettings
    from servicewire.server.workers import ProcessHooks
    from servicewire.transport.base import ServerTransport

__all__ = ["JobRunner", "Serving"]

# Error fields a PySOA client older than the given version does not understand.
_ERROR_FIELDS_BY_VERSION = (((0, 70, 0), "is_caller_error"), ((0, 44, 0), "denied_permissions"))
_CURRENT_CLIENT_VERSION = _ERROR_FIELDS_BY_VERSION[0][0]


class JobRunner(Protocol):
    """What serving needs of the programming model (``Server`` provides it)."""

    shutting_down: bool

    @property
    def service_name(self) -> str: ...

    @property
    def settings(self) -> ServerSettings: ...

    @property
    def metrics(self) -> MetricsRecorder: ...

    def run_job(self, job: JobRequest) -> JobResponse: ...

    def perform_pre_request_actions(self) -> None: ...

    def perform_post_request_actions(self) -> None: ...

    @property
    def post_request_actions_overridden(self) -> bool: ...

    def perform_idle_actions(self) -> None: ...

    def handle_job_error_code(
        self,
        code: str,
        message: str,
        request_for_logging: RecursivelyCensoredDictWrapper,
        response_for_logging: RecursivelyCensoredDictWrapper,
        extra: dict[str, Any] | None = None,
    ) -> JobResponse: ...


class Serving:
    """Receives, answers and accounts for the requests of one server (see the module
    documentation)."""

    def __init__(
        self,
        runner: JobRunner,
        events: ServerEvents,
        auxiliary: AuxiliaryActions | None,
        transport: ServerTransport | None,
    ) -> None:
        self.runner = runner
        self.service_name = runner.service_name
        self.settings = settings = runner.settings
        self.metrics = runner.metrics
        self.events = events
        self.auxiliary = auxiliary
        self.transport = transport
        self.runtime: ProcessHooks | None = None
        self.worker_pool: WorkerPool | None = None
        self.logger = logging.getLogger("servicewire.server")
        self.job_logger = logging.getLogger("servicewire.server.job")
        self.success_level: int = logging.getLevelName(settings.request_log_success_level)
        self.error_level: int = logging.getLevelName(settings.request_log_error_level)
        # If even the higher of the two levels is off, no request log line can be emitted.
        self._highest_level = max(self.success_level, self.error_level)
        # While serve() runs without a worker pool (each response is then followed by the
        # loop's next receive) and nothing after a response can take long (no auxiliary
        # actions, no post-request actions of the service's own): the transport's
        # send_response_message, if it takes receive_follows.
        self._send_before_receive: Callable[..., None] | None = None

    @property
    def shutting_down(self) -> bool:
        return self.runner.shutting_down

    def stop(self) -> None:
        """Take no new request; :meth:`serve` returns once the jobs taken are done."""
        self.runner.shutting_down = True

    # --- the serving loop ----------------------------------------------------------------

    def serve(self) -> None:
        """Serve until the server is shutting down; with ``workers`` above 1, on a
        :attr:`worker_pool` whose jobs are finished and answered before this returns."""
        try:
            if self.settings.workers > 1:
                self.worker_pool = WorkerPool(self, self.settings.workers)
            elif (
                self.transport is not None
                and self.auxiliary is None
                and not self.runner.post_request_actions_overridden
            ):
                self._send_before_receive = response_sender(self.transport)
            while not self.runner.shutting_down:
                try:
                    self.handle_next_request()
                except Exception:
                    self.count(MetricName.SERVER_ERROR_REQUEST_HANDLING)
                    self.logger.exception("Error while handling a request; serving on")
            if self.worker_pool is not None:
                self.worker_pool.finish()
        finally:
            self.worker_pool = None
            self._send_before_receive = None

    def handle_next_request(self) -> None:
        """Receive one request from the transport and handle it (see
        ``Server.handle_next_request``)."""
        transport = self.transport
        if transport is None:
            raise ImproperlyConfigured(f"Server {self.service_name!r} has no transport configured")
        runtime = self.runtime
        try:
            request_id, meta, body = transport.receive_request_message()
        except MessageReceiveTimeout:
            request_id = meta = body = None
        except InvalidMessageError as error:
            self.handle_bad_message(error)
            return
        if request_id is None or meta is None or body is None:
            self.runner.perform_idle_actions()
            if runtime is not None:
                runtime.idle()
            return
        request = parse_request(request_id, meta, body)
        if self.worker_pool is not None:
            self.worker_pool.submit(request)
            return
        if runtime is None:
            self.handle_request(request)
            return
        runtime.job_started()
        try:
            self.handle_request(request)
        finally:
            runtime.job_finished()

    # --- one request -----------------------------------------------------------------------

    def handle_request(self, request: ReceivedRequest) -> None:
        """Run the request's job (or reject it), answer it unless its caller asked for no
        response, log and count it, complete it, then hand its auxiliary actions on.

        In :meth:`serve`'s loop without a worker pool, the next receive follows at once:
        when nothing that may take long runs after the response either, the transport may
        send the response together with that receive.
        """
        transport = self.transport
        assert transport is not None
        metrics_enabled = self.metrics.enabled
        started = time.perf_counter() if metrics_enabled else 0.0
        token = set_log_context(self.service_name, request.correlation_id, request.request_id, None)
        events = self.events
        observed = events.job_received(transport, request) if events.active else None
        runner = self.runner
        # One level check per request while request logging is off (the usual case).
        logging_requests = self.job_logger.isEnabledFor(self._highest_level)
        try:
            runner.perform_pre_request_actions()
            if logging_requests and self.job_logger.isEnabledFor(self.success_level):
                self.job_logger.log(
                    self.success_level, "Job request: %s", self.censored(request.body)
                )
            processing = time.perf_counter() if metrics_enabled else 0.0
            job = request.job
            response = runner.run_job(job) if job is not None else self._rejected(request)
            if metrics_enabled:
                self.metrics.timer(MetricName.SERVER_JOB_PROCESS, time.perf_counter() - processing)
            message = None
            if request.expects_reply:
                send_before_receive = self._send_before_receive
                if (
                    logging_requests
                    or observed is not None
                    or metrics_enabled
                    or runner.shutting_down
                ):
                    # Something runs after the response, or no receive follows: send it now.
                    send_before_receive = None
                response, message = self._send_response(request, response, send_before_receive)
            if logging_requests:
                self._log_response(request, response, message)
            if observed is not None:
                events.job_done(request, response)
            if metrics_enabled:
                self._count_response_errors(response)
        finally:
            reset_log_context(token)
            if observed is not None:
                events.request_done(observed)
            try:
                transport.complete_request_message(request.request_id, request.meta)
            finally:
                if metrics_enabled:
                    self.metrics.counter(MetricName.SERVER_REQUEST_RECEIVED)
                    self.metrics.timer(
                        MetricName.SERVER_REQUEST_HANDLE, time.perf_counter() - started
                    )
                runner.perform_post_request_actions()
        # After the response has gone out and the request is complete: never delays it.
        if self.auxiliary is not None and job is not None:
            self.auxiliary.dispatch(job, response)

    def _rejected(self, request: ReceivedRequest) -> JobResponse:
        if request.bad_meta is None:
            self.count(MetricName.SERVER_ERROR_JOB)
        else:
            self.count(MetricName.SERVER_ERROR_BAD_MESSAGE)
            self.logger.warning(
                "Received a bad message: request %s: %s (meta %s)",
                request.request_id,
                request.bad_meta,
                self.censored(request.meta),
            )
            if self.events.active:
                error = InvalidMessageError(
                    request.bad_meta, request_id=request.request_id, meta=request.meta
                )
                self.events.emit("request_bad_message", error=error)
        return JobResponse(errors=list(request.errors))

    def response_message(
        self, response: JobResponse, client_version: tuple[int, ...]
    ) -> dict[str, Any]:
        """The wire dict of ``response`` for a caller speaking ``client_version``: without
        the error fields an older PySOA client fails on."""
        message = response.to_dict()
        if client_version >= _CURRENT_CLIENT_VERSION:
            return message
        removed = [field for since, field in _ERROR_FIELDS_BY_VERSION if client_version < since]
        errors = list(message["errors"])
        for action in message["actions"]:
            errors.extend(action["errors"])
        for error in errors:
            for field in removed:
                error.pop(field, None)
        return message

    def answer(
        self,
        request: ReceivedRequest,
        response: JobResponse,
        send: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> None:
        """Send ``response`` to the caller of ``request`` unless it asked for none (with
        ``send``, a transport's ``send_response_message`` to use instead of the
        transport's own)."""
        if not request.expects_reply:
            return
        assert self.transport is not None
        send_response = send or self.transport.send_response_message
        send_response(
            request.request_id,
            request.meta,
            self.response_message(response, request.client_version),
        )

    def _send_response(
        self,
        request: ReceivedRequest,
        response: JobResponse,
        send_before_receive: Callable[..., None] | None = None,
    ) -> tuple[JobResponse, dict[str, Any]]:
        """Send the response (or, if the transport refuses it, a job error in its place);
        return what was sent. With ``send_before_receive``, the transport is told that the
        next receive follows at once."""
        assert self.transport is not None
        message = self.response_message(response, request.client_version)
        try:
            if send_before_receive is not None:
                send_before_receive(request.request_id, request.meta, message, receive_follows=True)
            elif self.metrics.enabled:
                sending = time.perf_counter()
                self.transport.send_response_message(request.request_id, request.meta, message)
                self.metrics.timer(MetricName.SERVER_RESPONSE_SEND, time.perf_counter() - sending)
            else:
                self.transport.send_response_message(request.request_id, request.meta, message)
            return response, message
        except MessageTooLarge as error:
            self.count(MetricName.SERVER_ERROR_RESPONSE_TOO_LARGE)
            code = ERROR_CODE_RESPONSE_TOO_LARGE
            text = "Could not send the response because it was too large"
            extra = {"serialized_length_in_bytes": error.message_size_in_bytes}
        except InvalidField as error:
            self.count(MetricName.SERVER_ERROR_RESPONSE_NOT_SERIALIZABLE)
            code = ERROR_CODE_RESPONSE_NOT_SERIALIZABLE
            text = f"Could not send the response because it failed to serialize: {error}"
            extra = {}
        replacement = self.runner.handle_job_error_code(
            code, text, self.censored(request.body), self.censored(message), extra
        )
        message = self.response_message(replacement, request.client_version)
        self.transport.send_response_message(request.request_id, request.meta, message)
        return replacement, message

    def _log_response(
        self, request: ReceivedRequest, response: JobResponse, message: dict[str, Any] | None
    ) -> None:
        failed = bool(response.errors) or any(action.errors for action in response.actions)
        level = self.error_level if failed else self.success_level
        if not self.job_logger.isEnabledFor(level):
            return
        if failed and not self.job_logger.isEnabledFor(self.success_level):
            # The request was not logged on arrival; log it with its failed response.
            self.job_logger.log(level, "Job request: %s", self.censored(request.body))
        if message is None:
            message = self.response_message(response, request.client_version)
        self.job_logger.log(level, "Job response: %s", self.censored(message))

    def _count_response_errors(self, response: JobResponse) -> None:
        for error in response.errors:
            self.metrics.counter(MetricName.SERVER_JOB_ERROR, tags={"code": error.code})
        for action in response.actions:
            for error in action.errors:
                self.metrics.counter(
                    MetricName.SERVER_ACTION_ERROR,
                    tags={"action": action.action, "code": error.code},
                )

    # --- messages that cannot be used -----------------------------------------------------

    def handle_bad_message(self, error: InvalidMessageError) -> None:
        """A received message could not be used: log it, count it and, when the sender's
        reply route is known, answer it with an ``INVALID`` job error."""
        assert self.transport is not None
        self.count(MetricName.SERVER_ERROR_BAD_MESSAGE)
        self.logger.warning("Received a bad message: %s", error)
        if self.events.active:
            self.events.emit("request_bad_message", error=error)
        if error.request_id is None or error.meta is None:
            return
        response = JobResponse(
            errors=[Error(code=ERROR_CODE_INVALID, message=f"Bad request message: {error}")]
        )
        try:
            self.transport.send_response_message(
                error.request_id,
                error.meta,
                self.response_message(response, read_client_version(error.meta)[0]),
            )
        except Exception:
            self.logger.exception("Could not answer the bad message %s", error.request_id)

    # --- shared ---------------------------------------------------------------------------

    def censored(self, message: Any) -> RecursivelyCensoredDictWrapper:
        """``message`` censored for a log line (``extra_fields_to_redact`` included)."""
        return RecursivelyCensoredDictWrapper(message, self.settings.extra_fields_to_redact)

    def count(self, name: str) -> None:
        if self.metrics.enabled:
            self.metrics.counter(name)
