"""Running the actions of a job: each through the action middleware, timed when metrics
are on, with every failure turned into the action's response."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from servicewire._middleware import make_middleware_stack
from servicewire.errors import ERROR_CODE_ACTION_TIMEOUT, ActionError, HarakiriInterrupt, JobError
from servicewire.logging import reset_log_context, set_log_action
from servicewire.metrics import MetricName, MetricsRecorder
from servicewire.server.invocation import ActionFactory, unknown_action_error
from servicewire.server.request import NO_SWITCHES, RequestSwitchSet
from servicewire.types import ActionResponse, Error, JobResponse

if TYPE_CHECKING:
    from servicewire.server.events import ServerEvents
    from servicewire.server.middleware import ProcessAction, ServerMiddleware
    from servicewire.server.request import (
        EnrichedActionRequest,
        EnrichedJobRequest,
        LocalActionRunner,
    )

__all__ = ["ActionExecutor"]

UnhandledResponse = Callable[..., ActionResponse]


class ActionExecutor:
    """Runs the actions of a server's jobs: ``factories`` by action name (the server's,
    live: actions defined later count), wrapped in the ``middleware``'s action layers.

    ``events`` are told of each action run; ``unhandled`` makes the response to an
    unexpected exception (the server's ``handle_unhandled_exception``); ``count`` counts a
    metric.
    """

    __slots__ = ("_count", "_factories", "_stack", "_unhandled", "events", "metrics")

    def __init__(
        self,
        factories: Mapping[str, ActionFactory],
        middleware: Sequence[ServerMiddleware],
        metrics: MetricsRecorder,
        events: ServerEvents,
        unhandled: UnhandledResponse,
        count: Callable[[str], None],
    ) -> None:
        self._factories = factories
        self.metrics = metrics
        self._unhandled = unhandled
        self._count = count
        self.events = events
        run_action: ProcessAction = self._run_action
        self._stack: ProcessAction = make_middleware_stack(
            [each.action for each in middleware], run_action
        )

    def _run_action(self, request: EnrichedActionRequest) -> ActionResponse:
        # The base of the action middleware stack.
        return self._factories[request.action]()(request)

    def execute_job(
        self,
        job_request: EnrichedJobRequest,
        request_class: type[EnrichedActionRequest],
        runner: LocalActionRunner,
    ) -> JobResponse:
        """Run the job's actions in order (see ``Server.execute_job``): each gets a
        ``request_class`` request whose ``call_local_action`` goes to ``runner``."""
        responses: list[ActionResponse] = []
        context = job_request.context
        control = job_request.control
        given_switches = context["switches"]
        switches = RequestSwitchSet(given_switches) if given_switches else NO_SWITCHES
        continue_on_error = control.get("continue_on_error", False)
        run_coroutine = job_request.run_coroutine
        client_holder = job_request._client_holder
        events = self.events
        observing = events.active
        for simple_request in job_request.actions:
            request = request_class(
                simple_request.action,
                simple_request.body,
                switches,
                context,
                control,
                None,
                run_coroutine,
            )
            request._client_holder = client_holder
            request._server = runner
            if observing:
                events.emit("action_call", action_request=request)
            action_response, stop = self.execute(request)
            if observing:
                events.action_done(request, action_response)
            responses.append(action_response)
            if stop or (action_response.errors and not continue_on_error):
                break
        return JobResponse([], {}, responses)

    def execute(self, request: EnrichedActionRequest) -> tuple[ActionResponse, bool]:
        """Run one action through the middleware; return its response and whether the job
        must stop (after a harakiri interrupt). A ``JobError`` is raised on, to the job."""
        name = request.action
        if name not in self._factories:
            return ActionResponse(action=name, errors=[unknown_action_error(name)]), False
        token = set_log_action(name)
        try:
            if self.metrics.enabled:
                return self._run_timed(request), False
            return self._stack(request), False
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
            return self._unhandled(error, ActionResponse, action=name), False
        finally:
            reset_log_context(token)

    def _run_timed(self, request: EnrichedActionRequest) -> ActionResponse:
        started = time.perf_counter()
        try:
            return self._stack(request)
        finally:
            self.metrics.timer(
                MetricName.SERVER_ACTION_RUN,
                time.perf_counter() - started,
                {"action": request.action},
            )
