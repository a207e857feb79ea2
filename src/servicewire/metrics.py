"""Usage and performance metrics: a small recorder interface with a no-op default.

Servers, clients and transports report through a :class:`MetricsRecorder`. The default,
:class:`NoOpMetricsRecorder`, has ``enabled = False``, and every hot-path call site checks
that flag first, so an unconfigured recorder costs one attribute read per site.

:class:`MetricName` lists the names servicewire records (the server guide has the table);
``servicewire.otel:OpenTelemetryMetricsRecorder`` publishes them through OpenTelemetry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = ["MetricName", "MetricsRecorder", "NoOpMetricsRecorder"]

Tags = Mapping[str, str]


class MetricName:
    """The metrics servicewire records, with their kind, unit and tags.

    Timers are in seconds, sizes in bytes. Servers tag nothing with the service name: each
    server has its own recorder. Client and transport metrics carry ``service``, the service
    called.
    """

    # Server: each request and job.
    SERVER_REQUEST_RECEIVED = "server.request.received"
    """Counter: requests received from the transport."""
    SERVER_REQUEST_HANDLE = "server.request.handle"
    """Timer: one request, from its receipt to its response sent (hooks included)."""
    SERVER_JOB_PROCESS = "server.job.process"
    """Timer: validating a job and dispatching it through the job middleware to its actions."""
    SERVER_ACTION_RUN = "server.action.run"
    """Timer, tag ``action``: one action, through the action middleware."""
    SERVER_RESPONSE_SEND = "server.response.send"
    """Timer: handing a response to the transport."""
    SERVER_JOB_ERROR = "server.job.error"
    """Counter, tag ``code``: job errors in the responses sent."""
    SERVER_ACTION_ERROR = "server.action.error"
    """Counter, tags ``action`` and ``code``: action errors in the responses sent."""

    # Server: failures of the server itself (each also logged).
    SERVER_ERROR_BAD_MESSAGE = "server.error.bad_message"
    """Counter: received messages that could not be used."""
    SERVER_ERROR_UNHANDLED = "server.error.unhandled_error"
    """Counter: unexpected exceptions answered with ``SERVER_ERROR``."""
    SERVER_ERROR_JOB = "server.error.job_error"
    """Counter: jobs refused with a job error (such as an invalid job request)."""
    SERVER_ERROR_HARAKIRI = "server.error.harakiri"
    """Counter: jobs or actions interrupted for running too long."""
    SERVER_ERROR_RESPONSE_TOO_LARGE = "server.error.response_too_large"
    """Counter: responses replaced by ``RESPONSE_TOO_LARGE``."""
    SERVER_ERROR_RESPONSE_NOT_SERIALIZABLE = "server.error.response_not_serializable"
    """Counter: responses replaced by ``RESPONSE_NOT_SERIALIZABLE``."""
    SERVER_ERROR_REQUEST_HANDLING = "server.error.request_handling"
    """Counter: requests whose handling failed outside the job (the server serves on)."""
    SERVER_ERROR_EVENT_LISTENER = "server.error.event_listener"
    """Counter, tag ``event``: event listeners that raised (the request went on)."""

    # Server: auxiliary actions, tag ``action`` (``"<primary action>:<class name>"``).
    SERVER_AUXILIARY_RUN = "server.auxiliary.run"
    """Timer: one auxiliary action run in the server's process, through the action
    middleware."""
    SERVER_AUXILIARY_ERROR = "server.auxiliary.error"
    """Counter, tags ``action`` and ``code``: errors auxiliary actions ended with."""
    SERVER_AUXILIARY_SKIPPED = "server.auxiliary.skipped"
    """Counter: auxiliary actions not run because their primary action failed."""
    SERVER_AUXILIARY_DROPPED = "server.auxiliary.dropped"
    """Counter: auxiliary actions lost: a full thread pool set to drop, a shutdown that
    came first, or a job that could not be queued."""

    # Client, tag ``service``.
    CLIENT_REQUEST_SEND = "client.request.send"
    """Timer: sending one job request, through the client middleware and the transport."""
    CLIENT_RESPONSE_RECEIVE = "client.response.receive"
    """Timer: each wait for a response from the transport."""
    CLIENT_RESPONSE_TIMEOUT = "client.response.timeout"
    """Counter: waits that ended without the responses expected."""
    CLIENT_RESPONSE_DROPPED = "client.response.dropped"
    """Counter: responses that arrived for nobody (after their caller gave up)."""

    # Transports, tag ``service``.
    TRANSPORT_REQUEST_SIZE = "transport.request.size"
    """Histogram, bytes: serialized requests sent by client transports."""
    TRANSPORT_RESPONSE_SIZE = "transport.response.size"
    """Histogram, bytes: serialized responses sent by server transports."""
    TRANSPORT_QUEUE_FULL_RETRY = "transport.queue_full.retry"
    """Counter: sends retried because the destination queue was full."""
    TRANSPORT_MESSAGE_EXPIRED = "transport.message.expired"
    """Counter: received messages dropped because they expired before they were read."""


class MetricsRecorder:
    """Base class of metrics recorders; override the methods you need.

    ``counter`` adds to a monotonic count, ``timer`` records a duration in seconds and
    ``histogram`` records a value whose distribution matters (such as a message size).
    Recorders are shared by the threads of a process, so these must be thread-safe.
    """

    enabled: ClassVar[bool] = True

    def counter(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        """Add ``value`` to the counter ``name``."""

    def timer(self, name: str, seconds: float, tags: Tags | None = None) -> None:
        """Record that the operation ``name`` took ``seconds``."""

    def histogram(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Record one observation of ``name``."""

    def flush(self) -> None:
        """Publish whatever is buffered; servers call this after each request and when idle."""


class NoOpMetricsRecorder(MetricsRecorder):
    """Records nothing; the default everywhere."""

    enabled: ClassVar[bool] = False
