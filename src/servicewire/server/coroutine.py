"""The server's asyncio event loop, and the middleware around coroutines run on it.

Each server process has one :class:`AsyncEventLoopThread`: an asyncio event loop running in
a thread of its own. ``request.run_coroutine(coroutine)`` hands a coroutine to it and returns
a :class:`concurrent.futures.Future` of its result, which the action may wait for or ignore;
an action whose ``run`` is ``async def`` runs on it too. The coroutine runs in a copy of the
caller's :mod:`contextvars` context, so it sees the caller's context variables (and its
records carry the job's log context) even after the job has been answered.

:class:`CoroutineMiddleware` wraps every coroutine handed to ``run_coroutine``:
:meth:`~CoroutineMiddleware.before_run_coroutine` runs in the calling thread, in configured
order; :meth:`~CoroutineMiddleware.coroutine` wraps the coroutine and is applied in reverse
order, so that the first configured middleware is outermost when the coroutine runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel

from servicewire.logging import (
    capture_log_context,
    reset_log_context,
    restore_log_context,
)

__all__ = [
    "AsyncEventLoopThread",
    "CoroutineFuture",
    "CoroutineMiddleware",
    "DefaultCoroutineMiddleware",
    "MiddlewareCoroutine",
]

MiddlewareCoroutine = TypeVar("MiddlewareCoroutine", bound=Coroutine[Any, Any, Any])
T = TypeVar("T")

_logger = logging.getLogger("servicewire.server.coroutine")

# How long teardown lets cancelled coroutines run their cleanup, after the shutdown timeout.
_CANCELLATION_GRACE_SECONDS = 2.0


class CoroutineMiddleware:
    """Wraps coroutines handed to ``request.run_coroutine`` (and ``async def run`` actions).

    :meth:`before_run_coroutine` runs synchronously in the calling thread, in configured
    order. :meth:`coroutine` wraps the coroutine; it is applied in reverse configured order so
    that the resulting call stack reads in configured order.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = None

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} takes no settings, got {sorted(kwargs)}")

    def before_run_coroutine(self) -> None:
        """Called in the calling thread before the coroutine is handed to the event loop."""

    def coroutine(self, coroutine: MiddlewareCoroutine) -> MiddlewareCoroutine:
        """Return a coroutine that awaits ``coroutine`` (default: ``coroutine`` itself)."""
        return coroutine


class DefaultCoroutineMiddleware(CoroutineMiddleware):
    """Configured first by default: ties the coroutine to the job that scheduled it.

    The coroutine runs with that job's log context (service, correlation id, request id,
    action), however it is scheduled (``run_coroutine`` already copies the caller's
    context; a coroutine wrapped by this middleware and run by other means gets the log
    context all the same), and its asyncio task is named after the job, so that a dump of
    the loop's tasks says whose work each one is.
    """

    def coroutine(self, coroutine: MiddlewareCoroutine) -> MiddlewareCoroutine:
        log_context = capture_log_context()
        if log_context is None:
            return coroutine
        service_name, correlation_id, request_id, action_name = log_context
        task_name = (
            f"{service_name}.{action_name or 'job'} {getattr(coroutine, '__qualname__', '')} "
            f"(correlation_id={correlation_id}, request_id={request_id})"
        )

        async def in_job_context() -> Any:
            task = asyncio.current_task()
            if task is not None:
                task.set_name(task_name)
            token = restore_log_context(log_context)
            try:
                return await coroutine
            finally:
                reset_log_context(token)

        return cast(MiddlewareCoroutine, in_job_context())


class CoroutineFuture(concurrent.futures.Future[T], Generic[T]):
    """The future ``request.run_coroutine`` returns.

    A plain :class:`concurrent.futures.Future`, except that if the coroutine raised and
    nobody asked for the outcome (``result()`` or ``exception()``) by the time the future is
    garbage-collected, the exception is logged (with the scheduling job's log context), as
    asyncio does for tasks: fire-and-forget coroutines do not fail in silence. Cancelling the
    future cancels the coroutine.
    """

    def __init__(self, description: str) -> None:
        super().__init__()
        self._description = description
        self._log_context = capture_log_context()
        self._retrieved = False

    def result(self, timeout: float | None = None) -> T:
        self._retrieved = True
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._retrieved = True
        return super().exception(timeout)

    def __del__(self) -> None:
        if self._retrieved or not self.done() or self.cancelled():
            return
        error = super().exception()
        if error is None:
            return
        try:
            token = restore_log_context(self._log_context)
            try:
                _logger.error(
                    "Coroutine %s raised an exception that nobody retrieved",
                    self._description,
                    exc_info=(type(error), error, error.__traceback__),
                )
            finally:
                reset_log_context(token)
        except Exception:  # at interpreter exit, logging may be gone already
            pass


class AsyncEventLoopThread:
    """An asyncio event loop in a thread of its own, with coroutine middleware.

    :meth:`start` makes the loop available; its thread starts with the first coroutine, so
    a server that never runs one has no extra thread. :meth:`stop` waits up to
    ``shutdown_timeout`` seconds for the coroutines still running, cancels the rest, and
    stops the loop and its thread. The server calls them from ``setup`` and ``teardown``.
    """

    def __init__(
        self,
        coroutine_middleware: Sequence[CoroutineMiddleware] = (),
        *,
        shutdown_timeout: float = 10.0,
        name: str = "servicewire-event-loop",
    ) -> None:
        self.coroutine_middleware = list(coroutine_middleware)
        self._wrapping_order = list(reversed(self.coroutine_middleware))
        self.shutdown_timeout = shutdown_timeout
        self.name = name
        self._lock = threading.Lock()
        self._accepting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def accepting(self) -> bool:
        """Whether :meth:`run_coroutine` accepts coroutines (between start and stop)."""
        return self._accepting

    @property
    def thread(self) -> threading.Thread | None:
        """The loop's thread, once a coroutine has started it."""
        return self._thread

    def start(self) -> None:
        """Accept coroutines from now on (until :meth:`stop`)."""
        self._accepting = True

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> CoroutineFuture[T]:
        """Run ``coroutine`` on the loop, through the middleware; return its future.

        Raises ``RuntimeError`` (and closes the coroutine) when the loop is not accepting
        coroutines: before ``setup`` or after ``teardown``.
        """
        description = getattr(coroutine, "__qualname__", None) or repr(coroutine)
        try:
            loop = self._running_loop()
        except RuntimeError:
            coroutine.close()
            raise
        for middleware in self.coroutine_middleware:
            middleware.before_run_coroutine()
        wrapped: Coroutine[Any, Any, T] = coroutine
        for middleware in self._wrapping_order:
            wrapped = middleware.coroutine(wrapped)
        future: CoroutineFuture[T] = CoroutineFuture(description)
        try:
            # The callback (and so the task it creates) runs in a copy of this thread's
            # context.
            loop.call_soon_threadsafe(
                self._create_task, loop, wrapped, future, context=contextvars.copy_context()
            )
        except BaseException:
            # Interrupted (harakiri) once the coroutine may be scheduled: nobody will get
            # the future, so the coroutine must not run.
            future.cancel()
            raise
        return future

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._accepting:
            return loop
        with self._lock:
            if not self._accepting:
                raise RuntimeError(
                    "The server's event loop is not running: Server.setup() starts it and "
                    "Server.teardown() stops it"
                )
            if self._loop is None:
                self._loop = self._start_thread()
            return self._loop

    def _start_thread(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._run, args=(loop, ready), name=self.name, daemon=True)
        thread.start()
        ready.wait()
        self._thread = thread
        return loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    @staticmethod
    def _create_task(
        loop: asyncio.AbstractEventLoop,
        coroutine: Coroutine[Any, Any, T],
        future: CoroutineFuture[T],
    ) -> None:
        if future.cancelled():
            coroutine.close()
            return
        task = loop.create_task(coroutine)

        def settle(task: asyncio.Task[T]) -> None:
            # The future stays pending while the task runs, so that cancel() still works.
            if task.cancelled():
                future.cancel()
                return
            error = task.exception()
            if not future.set_running_or_notify_cancel():
                return
            if error is None:
                future.set_result(task.result())
            else:
                future.set_exception(error)

        def propagate_cancel(done: concurrent.futures.Future[T]) -> None:
            if done.cancelled() and not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)

        task.add_done_callback(settle)
        future.add_done_callback(propagate_cancel)

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting coroutines, wait up to ``timeout`` seconds (default
        ``shutdown_timeout``) for those still running, cancel the rest, and stop the loop.

        Never blocks much longer than ``timeout``: a loop stuck in blocking code is left to
        its (daemon) thread, with a warning.
        """
        timeout = self.shutdown_timeout if timeout is None else timeout
        with self._lock:
            self._accepting = False
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        bound = timeout + 2 * _CANCELLATION_GRACE_SECONDS
        drained = asyncio.run_coroutine_threadsafe(self._drain(timeout), loop)
        try:
            drained.result(bound)
        except concurrent.futures.TimeoutError:
            _logger.warning("The event loop did not finish its coroutines within %ss", bound)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CANCELLATION_GRACE_SECONDS)
        if thread.is_alive():
            _logger.warning("The event loop thread is blocked; leaving it behind")

    async def _drain(self, timeout: float) -> None:
        """Wait for every other task (including those they start) for up to ``timeout``
        seconds, then cancel what is left and give it a moment to clean up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        this_task = asyncio.current_task()
        while True:
            pending = {task for task in asyncio.all_tasks() if task is not this_task}
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(pending, timeout=remaining)
        _logger.warning(
            "Cancelling %d coroutine(s) still running %ss after shutdown began",
            len(pending),
            timeout,
        )
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=_CANCELLATION_GRACE_SECONDS)
