"""Tracing with OpenTelemetry: a client span per job, a server span per job, a span per
action, and the W3C trace context carried in the job's context between them.

The client middleware starts a ``CLIENT`` span when a job is sent (a child of whatever span
is current in the caller: an action's span, for the calls an action makes through
``request.client``, sync or in a coroutine), puts its ``traceparent`` and ``tracestate``
in the job's context under :data:`~servicewire._tracing.TRACE_CONTEXT_KEY`, and ends the
span when the reply arrives. The server middleware continues that trace with a ``SERVER``
span around the job and an ``INTERNAL`` span around each action, current while the action
runs. Spans carry the RPC semantic conventions (``rpc.system`` ``"servicewire"``,
``rpc.service``, ``rpc.method``), the correlation id, and an error status naming the first
error of a job or action that failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    TracerProvider,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from servicewire._tracing import TRACE_CONTEXT_KEY
from servicewire._version import __version__
from servicewire.errors import ActionError, JobError
from servicewire.types import Error, JobRequest, JobResponse

if TYPE_CHECKING:
    from servicewire.client.middleware import GetResponse, SendRequest
    from servicewire.server.middleware import ProcessAction, ProcessJob
    from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest
    from servicewire.types import ActionResponse

__all__ = ["ClientTracing", "ServerTracing"]

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER_NAME = "servicewire"
# A client span whose reply never came is ended this long after its request expired.
_UNANSWERED_GRACE_IN_SECONDS = 5.0
_DEFAULT_EXPIRY_IN_SECONDS = 60.0


def _span_name(service_name: str, actions: Sequence[str]) -> str:
    return f"{service_name}/{actions[0]}" if len(actions) == 1 else f"{service_name}/job"


def _attributes(
    service_name: str, actions: Sequence[str], context: dict[str, Any]
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "rpc.system": "servicewire",
        "rpc.service": service_name,
        "servicewire.actions": list(actions),
    }
    if len(actions) == 1:
        attributes["rpc.method"] = actions[0]
    correlation_id = context.get("correlation_id")
    if isinstance(correlation_id, str):
        attributes["servicewire.correlation_id"] = correlation_id
    return attributes


def _mark_errors(span: Span, errors: Sequence[Error]) -> None:
    if not errors:
        return
    first = errors[0]
    span.set_attribute("servicewire.error_codes", [error.code for error in errors])
    span.set_status(Status(StatusCode.ERROR, f"{first.code}: {first.message}"))


@contextmanager
def _errors_marked(span: Span) -> Iterator[None]:
    """Mark ``span`` failed by what the block raises: the errors of an ``ActionError`` or
    ``JobError`` (the server answers with them), or any other exception, recorded."""
    try:
        yield
    except (ActionError, JobError) as error:
        _mark_errors(span, error.errors)
        raise
    except BaseException as error:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        raise


def _job_errors(response: JobResponse) -> list[Error]:
    errors = list(response.errors)
    for action in response.actions:
        errors.extend(action.errors)
    return errors


class ClientTracing:
    """The client middleware: one ``CLIENT`` span per job sent to ``service_name``."""

    def __init__(self, service_name: str, provider: TracerProvider) -> None:
        self.service_name = service_name
        self.tracer = provider.get_tracer(_TRACER_NAME, __version__)
        # Spans waiting for their reply: request id -> (span, when to give up on it).
        self._open: dict[int, tuple[Span, float]] = {}
        self._lock = threading.Lock()

    def request(self, send_request: SendRequest) -> SendRequest:
        def traced_send(
            request_id: int,
            meta: dict[str, Any],
            job_request: JobRequest,
            message_expiry_in_seconds: int | float | None,
        ) -> None:
            actions = [action.action for action in job_request.actions]
            span = self.tracer.start_span(
                _span_name(self.service_name, actions),
                kind=SpanKind.CLIENT,
                attributes=_attributes(self.service_name, actions, job_request.context),
            )
            span.set_attribute("servicewire.request_id", request_id)
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, context=set_span_in_context(span))
            # A new context: the caller's dict may be shared by the jobs of a parallel call.
            traced_job = JobRequest(
                control=job_request.control,
                context={**job_request.context, TRACE_CONTEXT_KEY: carrier},
                actions=job_request.actions,
            )
            try:
                send_request(request_id, meta, traced_job, message_expiry_in_seconds)
            except BaseException as error:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                span.end()
                raise
            if job_request.control.get("suppress_response"):
                span.end()
                return
            expiry = float(message_expiry_in_seconds or _DEFAULT_EXPIRY_IN_SECONDS)
            give_up_at = time.monotonic() + expiry + _UNANSWERED_GRACE_IN_SECONDS
            with self._lock:
                self._open[request_id] = (span, give_up_at)
                if len(self._open) > 1:
                    self._end_unanswered()

        return traced_send

    def response(self, get_response: GetResponse) -> GetResponse:
        def traced_receive(
            receive_timeout_in_seconds: int | float | None,
        ) -> tuple[int | None, JobResponse | None]:
            request_id, job_response = get_response(receive_timeout_in_seconds)
            if request_id is not None:
                with self._lock:
                    entry = self._open.pop(request_id, None)
                if entry is not None:
                    span = entry[0]
                    if job_response is not None:
                        _mark_errors(span, _job_errors(job_response))
                    span.end()
            return request_id, job_response

        return traced_receive

    def _end_unanswered(self) -> None:
        """End the spans of requests whose reply can no longer come (the caller timed out
        or gave up); called with the lock held, when a request is sent."""
        now = time.monotonic()
        expired = [key for key, (_, give_up_at) in self._open.items() if give_up_at < now]
        for request_id in expired:
            span, _ = self._open.pop(request_id)
            span.set_status(Status(StatusCode.ERROR, "No reply received"))
            span.end()


class ServerTracing:
    """The server middleware: a ``SERVER`` span per job, an ``INTERNAL`` span per action."""

    def __init__(self, service_name: str, provider: TracerProvider) -> None:
        self.service_name = service_name
        self.tracer = provider.get_tracer(_TRACER_NAME, __version__)

    def job(self, process_job: ProcessJob) -> ProcessJob:
        def traced_job(job_request: EnrichedJobRequest) -> JobResponse:
            carrier = job_request.context.get(TRACE_CONTEXT_KEY)
            parent = _PROPAGATOR.extract(carrier) if isinstance(carrier, dict) else None
            actions = [action.action for action in job_request.actions]
            with (
                self.tracer.start_as_current_span(
                    _span_name(self.service_name, actions),
                    context=parent,
                    kind=SpanKind.SERVER,
                    attributes=_attributes(self.service_name, actions, job_request.context),
                    record_exception=False,
                    set_status_on_exception=False,
                ) as span,
                _errors_marked(span),
            ):
                response = process_job(job_request)
                _mark_errors(span, _job_errors(response))
                return response

        return traced_job

    def action(self, process_action: ProcessAction) -> ProcessAction:
        def traced_action(request: EnrichedActionRequest) -> ActionResponse:
            actions = [request.action]
            with (
                self.tracer.start_as_current_span(
                    _span_name(self.service_name, actions),
                    kind=SpanKind.INTERNAL,
                    attributes=_attributes(self.service_name, actions, request.context),
                    record_exception=False,
                    set_status_on_exception=False,
                ) as span,
                _errors_marked(span),
            ):
                response = process_action(request)
                _mark_errors(span, response.errors)
                return response

        return traced_action
