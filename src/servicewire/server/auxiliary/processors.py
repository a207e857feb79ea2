"""Auxiliary processors: where and when auxiliary actions run.

A processor is named in the ``auxiliary_processors`` server setting (``"default"`` serves
every auxiliary action that names no other) and built from it, once per server process.
:class:`SyncAuxProcessor` runs each auxiliary action inline, :class:`ThreadAuxProcessor` in a
bounded pool of threads, and ``QueuedAuxProcessor`` sends it as a job to be run by another
server process.
"""

from __future__ import annotations

import abc
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from servicewire.metrics import MetricName

if TYPE_CHECKING:
    from servicewire.server.auxiliary.call import AuxiliaryCall
    from servicewire.server.interface import ServerInterface

__all__ = [
    "AuxProcessor",
    "SyncAuxProcessor",
    "ThreadAuxProcessor",
    "ThreadAuxProcessorSettings",
    "ThreadAuxStatistics",
    "WhenFull",
]

logger = logging.getLogger("servicewire.server.auxiliary")


class AuxProcessor(abc.ABC):
    """Base class of auxiliary processors.

    The server builds a processor from its settings (``settings_schema`` validates the
    ``kwargs``), calls :meth:`initialize` once, as late as possible: in ``setup``, in the
    process that serves (after any fork), before the first request; then :meth:`process`
    for each auxiliary action to run, after the response of its job has been sent; and
    :meth:`shutdown` in ``teardown``.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = None

    def __init__(self) -> None:
        self.server: ServerInterface | None = None

    def initialize(self, server: ServerInterface) -> None:
        """Prepare to run the auxiliary actions of ``server`` (start threads, connect)."""
        self.server = server

    @abc.abstractmethod
    def process(self, call: AuxiliaryCall) -> None:
        """Run ``call`` (``call.run()``), now or later, here or elsewhere.

        Called in the thread that handled the job. ``call.run()`` never raises; an
        exception from this method is logged by the server and the call is lost.
        """

    def shutdown(self, timeout: float) -> None:  # noqa: B027 - an optional hook
        """Finish, or hand off, the calls not yet run, within ``timeout`` seconds; what is
        left then is logged and dropped. Called once, in the server's ``teardown``."""

    def _drop(self, call: AuxiliaryCall, why: str) -> None:
        logger.warning("Dropped %r: %s", call, why)
        self._count_dropped(call)

    def _count_dropped(self, call: AuxiliaryCall) -> None:
        server = self.server
        if server is not None and server.metrics.enabled:
            server.metrics.counter(MetricName.SERVER_AUXILIARY_DROPPED, tags={"action": call.name})

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class _NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyncAuxProcessor(AuxProcessor):
    """Runs each auxiliary action in the server's thread, right after the job's response
    has been sent, before the server takes its next request. The default.

    With the in-process ``LocalClientTransport`` the server runs in the caller's thread,
    so the caller waits for these too: use a :class:`ThreadAuxProcessor` there.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = _NoSettings

    def process(self, call: AuxiliaryCall) -> None:
        call.run()


WhenFull = Literal["block", "drop", "run_inline"]
"""What :class:`ThreadAuxProcessor` does with a call when its pool and backlog are full."""


class ThreadAuxProcessorSettings(BaseModel):
    """``pool_size`` threads run auxiliary actions; up to ``backlog`` more calls wait for a
    free thread. When all are taken, ``when_full`` decides: ``"block"`` (the server waits
    for room before taking its next request), ``"drop"`` (the call is logged at WARNING,
    counted as ``server.auxiliary.dropped``, and not run) or ``"run_inline"`` (the server's
    thread runs it, as :class:`SyncAuxProcessor` would)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pool_size: Annotated[int, Field(ge=1)] = 1
    backlog: Annotated[int, Field(ge=0)] = 16
    when_full: WhenFull = "block"


class ThreadAuxStatistics(NamedTuple):
    """A snapshot of a :class:`ThreadAuxProcessor`."""

    pool_size: int
    running: int
    """Calls running in the pool's threads."""
    waiting: int
    """Calls waiting for a free thread."""
    blocked: int
    """Threads waiting for room in the pool (``when_full="block"``)."""
    dropped: int
    """Calls dropped: the pool was full (``when_full="drop"``), or shutdown came first."""
    ran_inline: int
    """Calls run by the server's thread because the pool was full."""
    completed: int
    """Calls the pool's threads have finished."""


class ThreadAuxProcessor(AuxProcessor):
    """Runs auxiliary actions in a bounded pool of threads (see
    :class:`ThreadAuxProcessorSettings`).

    The threads start in ``initialize`` (so after a fork). At shutdown the pool finishes
    the calls it holds, running and waiting, within the shutdown timeout; calls still
    waiting then are dropped (each logged) and calls still running are abandoned to the
    process's exit (the threads are daemons: a stuck auxiliary action cannot keep the
    process alive). Calls live in memory only: if the process dies, they are lost (use
    ``QueuedAuxProcessor`` for work that must survive that).
    """

    settings_schema: ClassVar[type[BaseModel] | None] = ThreadAuxProcessorSettings

    def __init__(
        self, pool_size: int = 1, backlog: int = 16, when_full: WhenFull = "block"
    ) -> None:
        super().__init__()
        self.settings = ThreadAuxProcessorSettings(
            pool_size=pool_size, backlog=backlog, when_full=when_full
        )
        # Room for the calls held: running or waiting. A call takes a slot before it is
        # queued and gives it back when it has run.
        self._slots = threading.Semaphore(pool_size + backlog)
        self._calls: queue.SimpleQueue[AuxiliaryCall | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._running = self._waiting = self._blocked = 0
        self._dropped = self._ran_inline = self._completed = 0

    def initialize(self, server: ServerInterface) -> None:
        super().initialize(server)
        for number in range(1, self.settings.pool_size + 1):
            thread = threading.Thread(
                target=self._work, name=f"{server.service_name}-auxiliary-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def process(self, call: AuxiliaryCall) -> None:
        if not self._slots.acquire(blocking=False):
            when_full = self.settings.when_full
            if when_full == "drop":
                with self._lock:
                    self._dropped += 1
                self._drop(call, f"the thread pool is full ({self._capacity_text()})")
                return
            if when_full == "run_inline":
                with self._lock:
                    self._ran_inline += 1
                call.run()
                return
            with self._lock:
                self._blocked += 1
            try:
                self._slots.acquire()
            finally:
                with self._lock:
                    self._blocked -= 1
        with self._lock:
            self._waiting += 1
        self._calls.put(call)

    def _capacity_text(self) -> str:
        settings = self.settings
        return f"pool_size={settings.pool_size}, backlog={settings.backlog}"

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            if call is None:
                return
            with self._lock:
                self._waiting -= 1
                self._running += 1
            try:
                call.run()
            except BaseException:
                # run() contains the action's failures; this is a bug, and the thread must
                # survive it to keep the pool's size.
                logger.exception("Unexpected failure running %r", call)
            finally:
                with self._lock:
                    self._running -= 1
                    self._completed += 1
                self._slots.release()

    def shutdown(self, timeout: float) -> None:
        threads, self._threads = self._threads, []
        for _thread in threads:
            self._calls.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in threads):
            return
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                break
            if call is not None:
                with self._lock:
                    self._waiting -= 1
                    self._dropped += 1
                self._drop(call, f"not started within the shutdown timeout of {timeout:.1f} s")
        running = self.statistics().running
        if running:
            logger.warning(
                "%d auxiliary action(s) still running after the shutdown timeout of %.1f s are "
                "abandoned to the process's exit",
                running,
                timeout,
            )

    def statistics(self) -> ThreadAuxStatistics:
        """What the pool is doing now."""
        with self._lock:
            return ThreadAuxStatistics(
                self.settings.pool_size,
                self._running,
                self._waiting,
                self._blocked,
                self._dropped,
                self._ran_inline,
                self._completed,
            )

    def __repr__(self) -> str:
        return f"<ThreadAuxProcessor {self._capacity_text()}, when_full={self.settings.when_full}>"
