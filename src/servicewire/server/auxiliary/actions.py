"""Auxiliary actions: declaring them, the request they receive, running them, and handing
them to their processors after a job's response has been sent."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from servicewire._middleware import make_middleware_stack
from servicewire.errors import (
    ERROR_CODE_ACTION_TIMEOUT,
    ActionError,
    HarakiriInterrupt,
    ImproperlyConfigured,
)
from servicewire.logging import reset_log_context, set_log_context
from servicewire.metrics import MetricName
from servicewire.server.action import Action, ActionType
from servicewire.server.auxiliary.call import AuxiliaryActionRequest, AuxiliaryCall
from servicewire.server.auxiliary.processors import AuxProcessor, SyncAuxProcessor
from servicewire.server.middleware import ProcessAction
from servicewire.server.request import EnrichedActionRequest, RequestSwitchSet
from servicewire.types import ActionResponse, Body, Error, JobRequest, JobResponse

if TYPE_CHECKING:
    from servicewire.server.interface import ServerInterface
    from servicewire.server.invocation import ActionFactory
    from servicewire.server.middleware import ServerMiddleware
    from servicewire.server.request import RunCoroutine
    from servicewire.server.settings import ServerSettings

__all__ = [
    "DEFAULT_PROCESSOR",
    "AuxiliaryAction",
    "AuxiliaryActionRequest",
    "AuxiliaryActions",
    "AuxiliaryCall",
    "auxiliary_entries",
]

DEFAULT_PROCESSOR = "default"
"""The processor of auxiliary actions that name none (``auxiliary_processors`` setting)."""

logger = logging.getLogger("servicewire.server.auxiliary")


class AuxiliaryAction(Action):
    """An optional base class of auxiliary actions (any action class will do), declaring
    what the server reads from them.

    ``process_exceptions``: run even when the primary action failed (its errors are in
    ``request.primary_response.errors``); by default an auxiliary action is skipped then.
    ``auxiliary_processor``: the name of the processor (in the ``auxiliary_processors``
    setting) that runs it; by default ``"default"``.
    """

    process_exceptions: ClassVar[bool] = False
    auxiliary_processor: ClassVar[str] = DEFAULT_PROCESSOR


@dataclass(frozen=True, slots=True)
class _Entry:
    """One auxiliary action of one primary action."""

    name: str
    primary: str
    action: ActionType
    processor: str
    process_exceptions: bool


def auxiliary_entries(
    service_name: str, action_map: Mapping[str, Sequence[ActionType]], actions: Mapping[str, Any]
) -> dict[str, tuple[_Entry, ...]]:
    """Check an ``auxiliary_action_map`` against the service's ``actions``; return its
    entries by primary action name. Raises ``ImproperlyConfigured`` naming the problem."""
    entries: dict[str, tuple[_Entry, ...]] = {}
    for primary, auxiliaries in action_map.items():
        where = f"auxiliary_action_map[{primary!r}] of service {service_name!r}"
        if primary not in actions:
            raise ImproperlyConfigured(f"{where}: {primary!r} is not an action of the service")
        if isinstance(auxiliaries, str | bytes) or not isinstance(auxiliaries, Sequence):
            raise ImproperlyConfigured(f"{where} must be a list of action classes")
        names: list[_Entry] = []
        for action in auxiliaries:
            if not callable(action):
                raise ImproperlyConfigured(f"{where}: {action!r} is not an action class")
            name = f"{primary}:{getattr(action, '__name__', type(action).__name__)}"
            if any(entry.name == name for entry in names):
                raise ImproperlyConfigured(f"{where} lists {name!r} twice")
            processor = getattr(action, "auxiliary_processor", DEFAULT_PROCESSOR)
            process_exceptions = bool(getattr(action, "process_exceptions", False))
            names.append(_Entry(name, primary, action, processor, process_exceptions))
        entries[primary] = tuple(names)
    return entries


class AuxiliaryRunner:
    """Runs auxiliary actions of a server, through its action middleware, containing every
    failure (logged at WARNING or, with a traceback, ERROR; counted as
    ``server.auxiliary.error``)."""

    def __init__(
        self,
        server: ServerInterface,
        entries: Mapping[str, tuple[_Entry, ...]],
        handler_factory: Callable[[ActionType], ActionFactory],
        middleware: Sequence[ServerMiddleware],
    ) -> None:
        self.server = server
        self._factories = {
            entry.name: handler_factory(entry.action)
            for group in entries.values()
            for entry in group
        }
        call_action: ProcessAction = self._call_action
        self._stack: ProcessAction = make_middleware_stack(
            [each.action for each in middleware], call_action
        )

    def _call_action(self, request: EnrichedActionRequest) -> ActionResponse:
        return self._factories[request.action]()(request)

    def run(self, request: AuxiliaryActionRequest) -> ActionResponse:
        server, name = self.server, request.action
        metrics = server.metrics
        started = time.perf_counter()
        token = set_log_context(
            server.service_name, request.context.get("correlation_id"), None, name
        )
        try:
            response = self._stack(request)
        except ActionError as error:
            response = ActionResponse(action=name, errors=error.errors)
        except HarakiriInterrupt:
            message = f"The auxiliary action {name!r} ran for too long and was interrupted."
            response = ActionResponse(
                name, [Error(code=ERROR_CODE_ACTION_TIMEOUT, message=message)]
            )
        except Exception as error:
            response = server.handle_unhandled_exception(error, ActionResponse, action=name)
        finally:
            reset_log_context(token)
        if response.errors:
            logger.warning(
                "Auxiliary action %s of service %r failed (correlation id %s): %s",
                name,
                server.service_name,
                request.context.get("correlation_id"),
                [error.to_dict() for error in response.errors],
            )
        if metrics.enabled:
            tags = {"action": name}
            metrics.timer(MetricName.SERVER_AUXILIARY_RUN, time.perf_counter() - started, tags)
            for failure in response.errors:
                metrics.counter(
                    MetricName.SERVER_AUXILIARY_ERROR, tags={**tags, "code": failure.code}
                )
        return response


class AuxiliaryActions:
    """A server's auxiliary actions and their processors.

    Built with the server when its class declares ``auxiliary_action_map`` (checked against
    the server's ``actions``), with the server's ``settings``, the factory of an action's
    handler, the server's middleware and the ``run_coroutine`` of its requests;
    :meth:`initialize` runs in ``setup``, :meth:`dispatch` after each request whose
    response has been sent, :meth:`shutdown` in ``teardown``.
    """

    def __init__(
        self,
        server: ServerInterface,
        settings: ServerSettings,
        action_map: Mapping[str, Sequence[ActionType]],
        actions: Mapping[str, Any],
        handler_factory: Callable[[ActionType], ActionFactory],
        middleware: Sequence[ServerMiddleware],
        run_coroutine: RunCoroutine,
    ) -> None:
        self.server = server
        self.settings = settings
        self.run_coroutine = run_coroutine
        self.entries = auxiliary_entries(server.service_name, action_map, actions)
        self.runner = AuxiliaryRunner(server, self.entries, handler_factory, middleware)
        self.processors = self._build_processors()
        self._initialized = False
        self._shut_down = False
        self._lock = threading.Lock()

    def _build_processors(self) -> dict[str, AuxProcessor]:
        configured = self.settings.auxiliary_processors
        processors: dict[str, AuxProcessor] = {}
        for group in self.entries.values():
            for entry in group:
                if entry.processor in processors:
                    continue
                reference = configured.get(entry.processor)
                if reference is not None:
                    processors[entry.processor] = reference.object(**reference.kwargs)
                elif entry.processor == DEFAULT_PROCESSOR:
                    processors[entry.processor] = SyncAuxProcessor()
                else:
                    raise ImproperlyConfigured(
                        f"The auxiliary action {entry.name!r} of service "
                        f"{self.server.service_name!r} uses the processor {entry.processor!r}, "
                        "which the auxiliary_processors setting does not define (it defines "
                        f"{sorted(configured) or 'none'})"
                    )
        return processors

    def initialize(self) -> None:
        """Call each processor's ``initialize(server)``, once."""
        with self._lock:
            if self._initialized:
                return
            for processor in self.processors.values():
                processor.initialize(self.server)
            self._initialized = True

    def dispatch(self, job: JobRequest, response: JobResponse) -> None:
        """Hand the auxiliary actions of the job's actions to their processors. Never
        raises: whatever goes wrong is logged."""
        try:
            if response.errors:
                return
            if not self._initialized:
                self.initialize()
            for entry, call in self._calls(job, response):
                processor = self.processors[entry.processor]
                if self._shut_down:
                    logger.warning("%r arrived after shutdown; running it inline", call)
                    call.run()
                    continue
                try:
                    processor.process(call)
                except Exception:
                    self._count(MetricName.SERVER_AUXILIARY_DROPPED, entry.name)
                    logger.exception("Processor %r could not take %r", processor, call)
        except Exception:
            logger.exception(
                "Could not start the auxiliary actions of a job of service %r",
                self.server.service_name,
            )

    def _calls(
        self, job: JobRequest, response: JobResponse
    ) -> Iterator[tuple[_Entry, AuxiliaryCall]]:
        requested = job.actions
        switches: RequestSwitchSet | None = None
        for index, action_response in enumerate(response.actions):
            entries = self.entries.get(action_response.action)
            if not entries:
                continue
            primary = requested[index] if index < len(requested) else None
            if primary is None or primary.action != action_response.action:
                logger.warning(
                    "The response to action %d of a job of service %r is not the action's "
                    "(the job middleware changed it?); its auxiliary actions do not run",
                    index,
                    self.server.service_name,
                )
                continue
            if switches is None:
                switches = RequestSwitchSet(job.context.get("switches") or ())
            for entry in entries:
                if action_response.errors and not entry.process_exceptions:
                    self._count(MetricName.SERVER_AUXILIARY_SKIPPED, entry.name)
                    logger.debug("Skipped %s: the primary action failed", entry.name)
                    continue
                request = self._request(entry, primary.body, job, switches, action_response)
                yield entry, AuxiliaryCall(request, self.runner.run)

    def _request(
        self,
        entry: _Entry,
        body: Body,
        job: JobRequest,
        switches: RequestSwitchSet,
        primary_response: ActionResponse,
    ) -> AuxiliaryActionRequest:
        # Copies: the primary action's request and response stay the primary's (the caller
        # owns them in-process), and auxiliary actions run on their own copies, perhaps at
        # the same time as each other.
        body, context, control, response_body = copy.deepcopy(
            (body, job.context, job.control, primary_response.body)
        )
        server = self.server
        request = AuxiliaryActionRequest(
            entry.name,
            body,
            switches,
            context,
            control,
            run_coroutine=self.run_coroutine,
            client_factory=partial(server.make_client, context),
        )
        request._server = server
        request.primary_response = ActionResponse(
            primary_response.action, list(primary_response.errors), response_body
        )
        return request

    def shutdown(self) -> None:
        """Let each processor drain or hand off its pending work, all within
        ``auxiliary_shutdown_timeout`` seconds."""
        self._shut_down = True
        if not self._initialized:
            return
        deadline = time.monotonic() + self.settings.auxiliary_shutdown_timeout
        for processor in self.processors.values():
            try:
                processor.shutdown(max(0.0, deadline - time.monotonic()))
            except Exception:
                logger.exception("Processor %r failed to shut down", processor)

    def _count(self, name: str, action: str) -> None:
        if self.server.metrics.enabled:
            self.server.metrics.counter(name, tags={"action": action})
