"""Worker threads: one server process running several jobs at once.

With the ``workers`` setting above 1, :meth:`Server.run` starts a :class:`WorkerPool`. The
serving thread receives requests and hands each to a free worker thread, which handles it
(``Serving.handle_request``: the job, its response, its completion) exactly as the serving
thread would. Three rules keep it safe:

- **Back-pressure.** The serving thread takes no request from the transport while every
  worker is busy: requests stay in the queue, where another process can take them.
- **Graceful shutdown.** Once ``shutting_down`` is set, no new request is taken; the jobs
  already taken finish and are answered before ``teardown``.
- **Harakiri per job.** The harakiri signal reaches only the main thread, so with workers
  (under ``Server.main()`` / ``servicewire serve``) a watchdog thread times each job instead.
  A job past ``harakiri.timeout`` is interrupted (``HarakiriInterrupt`` is raised in its
  thread, so the action answers ``ACTION_TIMEOUT`` as without workers); if the job has not
  answered a second later (a thread blocked in a call that an interrupt cannot reach), the
  watchdog answers its caller itself with ``JOB_TIMEOUT`` and a late response of the job is
  dropped. The process then takes no new job and exits with status 1 (the supervisor
  starts a new one) once the other jobs are done, or ``harakiri.shutdown_grace`` seconds
  after the harakiri, whichever comes first.

The log context (service, correlation id, request id, action) is per thread, as each worker
sets its own for the job it runs. Whatever the server calls for a job (middleware, actions,
``perform_pre_request_actions`` and ``perform_post_request_actions``, the metrics recorder)
may be called from several threads at once.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from servicewire.errors import (
    HarakiriInterrupt,
    ImproperlyConfigured,
)
from servicewire.metrics import MetricName
from servicewire.server.last_ditch import job_timeout_response
from servicewire.types import JobResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from servicewire.server.received import ReceivedRequest
    from servicewire.transport.base import ServerTransport

__all__ = [
    "HarakiriWatchdog",
    "PooledServing",
    "ProcessHooks",
    "WorkerPool",
    "WorkerPoolStatistics",
]

logger = logging.getLogger("servicewire.server.workers")

# How long the watchdog lets an interrupted job answer by itself before answering for it.
_INTERRUPT_ANSWER_WAIT = 1.0
# How long the watchdog waits for a worker in the middle of sending its own response.
_ANSWER_LOCK_WAIT = 5.0

_WAITING, _RUNNING, _DONE = range(3)


class ProcessHooks(Protocol):
    """What serving tells the process runtime (``servicewire.server.runtime``), and what the
    pool's watchdog reads of it and tells it."""

    harakiri_timeout: float
    harakiri_triggered: bool

    def job_started(self) -> None: ...

    def job_finished(self) -> None: ...

    def job_dispatched(self) -> None: ...

    def idle(self) -> None: ...

    def start_exit_timer(self) -> None: ...

    def shutdown_signal(self, signal_number: int) -> None: ...

    def harakiri(self, signal_number: int) -> None: ...


class PooledServing(Protocol):
    """What the pool needs of the serving half it runs requests for
    (``servicewire.server.serving.Serving`` is one)."""

    service_name: str
    transport: ServerTransport | None
    runtime: ProcessHooks | None
    logger: logging.Logger

    def handle_request(self, request: ReceivedRequest) -> None: ...

    def answer(
        self,
        request: ReceivedRequest,
        response: JobResponse,
        send: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> None: ...

    def count(self, name: str) -> None: ...

    def stop(self) -> None: ...


class WorkerPoolStatistics(NamedTuple):
    """A snapshot of a :class:`WorkerPool`."""

    workers: int
    """Worker threads in the pool."""
    busy: int
    """Jobs taken and not finished."""
    waiting_for_worker: bool
    """Whether the serving thread is waiting for a worker to be free (taking no request)."""
    jobs_started: int
    """Jobs handed to a worker since the pool started."""
    jobs_finished: int
    """Jobs whose handling ended since the pool started."""
    most_busy: int
    """The most jobs that were ever taken at once."""


class _Job:
    """A request handed to the pool, and what the watchdog needs to know about it."""

    __slots__ = (
        "abandoned",
        "answer_lock",
        "answered",
        "done",
        "interrupted",
        "lock",
        "request",
        "started",
        "state",
        "thread",
        "timed_out",
    )

    def __init__(self, request: ReceivedRequest) -> None:
        self.request = request
        self.state = _WAITING
        self.thread = 0
        self.started = 0.0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.timed_out = False
        self.interrupted = False
        # Answering: the job's own response, or the watchdog's, never both.
        self.answer_lock = threading.Lock()
        self.answered = False
        self.abandoned = False


class WorkerPool:
    """Runs the requests of ``serving`` on ``size`` worker threads (see the module
    documentation).

    Built by ``Serving.serve`` when ``workers`` is above 1; it asks the transport to get
    ready for concurrent use (``enable_concurrent_requests``), which raises
    ``ImproperlyConfigured`` for a transport that does not support it.
    """

    def __init__(self, serving: PooledServing, size: int) -> None:
        transport = serving.transport
        if transport is None:
            raise ImproperlyConfigured(f"Server {serving.service_name!r} has no transport")
        transport.enable_concurrent_requests(size)
        self.serving = serving
        self.size = size
        self._condition = threading.Condition()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._running: set[_Job] = set()
        self._waiting_for_worker = False
        self._started = 0
        self._finished = 0
        self._most_busy = 0
        self._local = threading.local()
        self._threads = [
            threading.Thread(
                target=self._work, name=f"{serving.service_name}-worker-{number}", daemon=True
            )
            for number in range(1, size + 1)
        ]
        for thread in self._threads:
            thread.start()
        runtime = serving.runtime
        self.watchdog: HarakiriWatchdog | None = None
        if runtime is not None and runtime.harakiri_timeout > 0:
            self.watchdog = HarakiriWatchdog(self, runtime)

    # --- the serving thread ---------------------------------------------------------------

    def submit(self, request: ReceivedRequest) -> None:
        """Hand a received request to a worker; return once a worker is free for the next
        (the serving thread takes no request before)."""
        job = _Job(request)
        with self._condition:
            self._running.add(job)
            self._started += 1
            self._most_busy = max(self._most_busy, len(self._running))
        self._jobs.put(job)
        runtime = self.serving.runtime
        if runtime is not None:
            runtime.job_dispatched()
        with self._condition:
            if len(self._running) < self.size:
                return
            self._waiting_for_worker = True
            try:
                while len(self._running) >= self.size:
                    self._condition.wait()
            finally:
                self._waiting_for_worker = False

    def finish(self) -> None:
        """Let the jobs taken finish, then stop the worker threads (and the watchdog)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        if self.watchdog is not None:
            self.watchdog.stop()

    def statistics(self) -> WorkerPoolStatistics:
        with self._condition:
            return WorkerPoolStatistics(
                workers=self.size,
                busy=len(self._running),
                waiting_for_worker=self._waiting_for_worker,
                jobs_started=self._started,
                jobs_finished=self._finished,
                most_busy=self._most_busy,
            )

    def running_jobs(self) -> list[_Job]:
        with self._condition:
            return list(self._running)

    # --- the worker threads ---------------------------------------------------------------

    def _work(self) -> None:
        # The watchdog's interrupt may fire at any point of the job, or just after it: the
        # bookkeeping goes on until done, however often it is cut short.
        job: _Job | None = None
        while True:
            try:
                if job is None:
                    job = self._jobs.get()
                    if job is None:
                        return
                    self._run(job)
                self._end(job)
                self._release(job)
                job = None
            except HarakiriInterrupt:
                logger.warning("A harakiri interrupt reached a worker outside its job's actions")

    def _run(self, job: _Job) -> None:
        with job.lock:
            job.thread = threading.get_ident()
            job.started = time.monotonic()
            job.state = _RUNNING
        self._local.job = job
        serving = self.serving
        try:
            serving.handle_request(job.request)
        except Exception:
            serving.count(MetricName.SERVER_ERROR_REQUEST_HANDLING)
            serving.logger.exception("Error while handling a request; serving on")

    def _end(self, job: _Job) -> None:
        with job.lock:
            job.state = _DONE
            if job.interrupted:
                _clear_interrupt(job.thread)
        self._local.job = None
        job.done.set()

    def _release(self, job: _Job) -> None:
        with self._condition:
            if job in self._running:
                self._running.discard(job)
                self._finished += 1
                self._condition.notify_all()

    # --- answering, when the watchdog may answer too --------------------------------------

    def current_job(self) -> _Job | None:
        """The job this worker thread is running (``None`` in other threads)."""
        job: _Job | None = getattr(self._local, "job", None)
        return job


class HarakiriWatchdog:
    """Times the pool's jobs and ends those that run past the runtime's harakiri timeout
    (see the module documentation)."""

    def __init__(self, pool: WorkerPool, runtime: ProcessHooks) -> None:
        self.pool = pool
        self.runtime = runtime
        self.timeout = runtime.harakiri_timeout
        self._stopped = threading.Event()
        self._gate(pool)
        self._thread = threading.Thread(
            target=self._watch, name=f"{pool.serving.service_name}-harakiri-watchdog", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, and give the transport its own methods back."""
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        for name in ("send_response_message", "complete_request_message"):
            self._transport.__dict__.pop(name, None)

    def _watch(self) -> None:
        tick = min(1.0, self.timeout / 4)
        while not self._stopped.wait(tick):
            now = time.monotonic()
            for job in self.pool.running_jobs():
                if job.state == _RUNNING and not job.timed_out and now - job.started > self.timeout:
                    try:
                        self._harakiri(job)
                    except Exception:
                        logger.exception(
                            "The harakiri of request %s failed", job.request.request_id
                        )

    def _harakiri(self, job: _Job) -> None:
        with job.lock:
            if job.state != _RUNNING or job.timed_out:
                return
            job.timed_out = True
        serving = self.pool.serving
        # No new job from now on; the process ends after the jobs taken (or the grace).
        serving.stop()
        if not self.runtime.harakiri_triggered:
            self.runtime.harakiri_triggered = True
            self.runtime.start_exit_timer()
        logger.error(
            "Harakiri: request %s ran for more than %.0f s; interrupting it, then exiting "
            "once the other jobs are done. %s",
            job.request.request_id,
            self.timeout,
            thread_stacks(),
        )
        serving.count(MetricName.SERVER_ERROR_HARAKIRI)
        with job.lock:
            if job.state == _RUNNING:
                job.interrupted = _interrupt(job.thread)
        if job.done.wait(_INTERRUPT_ANSWER_WAIT) and job.answered:
            return
        self._answer_for(job)

    def _answer_for(self, job: _Job) -> None:
        """Answer the caller of a stuck job with ``JOB_TIMEOUT`` (unless the job has)."""
        if not job.answer_lock.acquire(timeout=_ANSWER_LOCK_WAIT):
            logger.error(
                "Could not answer request %s: its worker is stuck sending", job.request.request_id
            )
            return
        try:
            if job.answered:
                return
            job.answered = job.abandoned = True
            request = job.request
            response = job_timeout_response(
                f"The job ran for more than {self.timeout:.0f} s and was abandoned; "
                "the server process restarts."
            )
            if request.correlation_id is not None:
                response.context["correlation_id"] = request.correlation_id
            try:
                self.pool.serving.answer(request, response, self._send)
            finally:
                self._complete(request.request_id, request.meta)
        finally:
            job.answer_lock.release()

    def _gate(self, pool: WorkerPool) -> None:
        """Route the workers' responses and completions through their job's answer lock, so
        that a job the watchdog answered is not answered again."""
        transport = pool.serving.transport
        assert transport is not None
        self._transport = transport
        self._send = send = transport.send_response_message
        self._complete = complete = transport.complete_request_message

        def send_response_message(
            request_id: int,
            meta: dict[str, Any],
            body: dict[str, Any],
            *,
            receive_follows: bool = False,
        ) -> None:
            # Workers' responses never wait for a receive (another thread's): the keyword
            # is taken, for the method's signature, and not passed on.
            job = pool.current_job()
            if job is None:
                send(request_id, meta, body)
                return
            with job.answer_lock:
                if job.abandoned:
                    logger.warning(
                        "Dropped the late response to request %s: the caller was answered "
                        "with JOB_TIMEOUT",
                        request_id,
                    )
                    return
                send(request_id, meta, body)
                job.answered = True

        def complete_request_message(request_id: int, meta: dict[str, Any]) -> None:
            job = pool.current_job()
            if job is None:
                complete(request_id, meta)
                return
            with job.answer_lock:
                if not job.abandoned:
                    complete(request_id, meta)

        # Instance attributes shadow the transport's methods for as long as the pool runs.
        transport.send_response_message = send_response_message  # type: ignore[method-assign]
        transport.complete_request_message = complete_request_message  # type: ignore[method-assign]


def thread_stacks() -> str:
    """The stacks of every thread, for the log line of a harakiri."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f"Thread {names.get(ident, ident)}:\n{stack}")
    return "Stacks at the interrupt:\n" + "\n".join(parts)


# --- interrupting another thread ------------------------------------------------------------
# CPython raises an exception in another thread at its next bytecode: not inside a blocking
# call (a sleep, a socket read), which is why the watchdog also answers for a stuck job.

_set_async_exception = getattr(ctypes.pythonapi, "PyThreadState_SetAsyncExc", None)


def _interrupt(thread_id: int) -> bool:
    """Raise ``HarakiriInterrupt`` in the thread ``thread_id``; whether it could be."""
    if _set_async_exception is None or not thread_id:
        return False
    count = _set_async_exception(ctypes.c_ulong(thread_id), ctypes.py_object(HarakiriInterrupt))
    return bool(count == 1)


def _clear_interrupt(thread_id: int) -> None:
    """Cancel an interrupt not raised yet in the thread ``thread_id``."""
    if _set_async_exception is not None:
        _set_async_exception(ctypes.c_ulong(thread_id), None)
