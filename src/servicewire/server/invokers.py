"""Invokers: how the calls to one action are executed when several arrive at once.

With the ``workers`` setting above 1 a server runs several jobs at once, and two of them may
call the same action. An action's invoker decides what happens then:

- :class:`ConcurrentInvoker` (the default): the calls run side by side.
- :class:`SerializedInvoker`: the calls run one at a time, in the order they arrived.
- :class:`DeduplicatingInvoker`: calls with the same key that overlap run once, and every
  caller gets the result (optionally cached for a while).

An invoker sits at the base of the action middleware: the middleware runs once per caller
(each caller's request is logged, measured and authorized as usual), and the invoker decides
how often the action itself (request validation, ``run``, response validation) runs. Calls
made with ``request.call_local_action`` go through the invoker too.

No invoker pins a thread: a caller waits in its own worker thread. While it waits its turn
(serialized) or for another caller's run (deduplicated), that worker takes no other job.
A serialized action that calls itself through ``call_local_action`` waits for itself forever.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Annotated, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from servicewire._signing import canonical_bytes
from servicewire.errors import ActionError
from servicewire.types import ActionResponse

if TYPE_CHECKING:
    from servicewire.server.request import EnrichedActionRequest

__all__ = [
    "ConcurrentInvoker",
    "DeduplicatingInvoker",
    "ExecuteAction",
    "Invoker",
    "InvokerStatistics",
    "SerializedInvoker",
]

logger = logging.getLogger("servicewire.server.invokers")

ExecuteAction = Callable[["EnrichedActionRequest"], ActionResponse]
"""Runs the action itself for one request (what an invoker calls)."""

# Waits are sliced so that an interrupt sent to a waiting thread (harakiri) is seen.
_WAIT_SLICE = 1.0


class InvokerStatistics(NamedTuple):
    """A snapshot of an invoker with state."""

    running: int
    """Executions of the action under way."""
    waiting: int
    """Callers waiting for their turn or for another caller's execution."""
    cached: int
    """Responses kept to answer later calls."""


class Invoker:
    """Base of invokers: override :meth:`invoke`.

    An invoker with state (a lock, a cache) returns a fresh copy of itself from
    :meth:`bind`: each server binds each invoker object once, at start-up, so that an invoker
    given on an action class is not shared by the servers of a process (actions of one server
    that share an invoker object share its copy: a ``SerializedInvoker`` shared by two
    actions keeps them from running at the same time).
    """

    def invoke(self, request: EnrichedActionRequest, execute: ExecuteAction) -> ActionResponse:
        """Run ``execute(request)`` (now, later, or not at all) and return the response."""
        raise NotImplementedError

    def bind(self) -> Invoker:
        """The invoker one server uses (default: this one)."""
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ConcurrentInvoker(Invoker):
    """Every call runs at once, alongside the others (what actions do by default)."""

    def invoke(self, request: EnrichedActionRequest, execute: ExecuteAction) -> ActionResponse:
        return execute(request)


class _FifoLock:
    """A lock handed to its waiters in the order they asked for it.

    An interrupted waiter leaves the line (or, if the lock was handed to it meanwhile,
    passes it on), so the lock can never be left with nobody to release it.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._line: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._line.append(turn)
        try:
            while not turn.acquire(timeout=_WAIT_SLICE):
                pass
        except BaseException:
            with self._guard:
                try:
                    self._line.remove(turn)
                except ValueError:
                    self._release_locked()  # it was our turn already: pass it on
            raise

    def release(self) -> None:
        with self._guard:
            self._release_locked()

    def statistics(self) -> tuple[bool, int]:
        """Whether it is held, and how many wait for it."""
        with self._guard:
            return self._held, len(self._line)

    def _release_locked(self) -> None:
        if self._line:
            self._line.popleft().release()  # still held: ownership moves to the next
        else:
            self._held = False


class SerializedInvoker(Invoker):
    """Calls run one at a time, in the order they arrived; none overlaps another."""

    def __init__(self) -> None:
        self._lock = _FifoLock()

    def bind(self) -> SerializedInvoker:
        bound = copy.copy(self)
        bound._lock = _FifoLock()
        return bound

    def invoke(self, request: EnrichedActionRequest, execute: ExecuteAction) -> ActionResponse:
        self._lock.acquire()
        try:
            return execute(request)
        finally:
            self._lock.release()

    def statistics(self) -> InvokerStatistics:
        held, waiting = self._lock.statistics()
        return InvokerStatistics(running=int(held), waiting=waiting, cached=0)


class _Run:
    """One execution that callers with the same key share."""

    __slots__ = ("done", "error", "response", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0
        self.response: ActionResponse | None = None
        self.error: BaseException | None = None


class _DeduplicatingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cache_ttl_in_seconds: Annotated[float, Field(ge=0)] = 0
    cache_errors: bool = False
    cache_max_entries: Annotated[int, Field(gt=0)] = 1000


class DeduplicatingInvoker(Invoker):
    """Overlapping calls with the same key run once; each caller gets the response.

    The key is :meth:`key` of the request (by default its action name, body and active
    switches: switches may choose what the action does), or ``key(request)`` if given.
    A call that arrives while another with its key runs waits for that run's outcome; each
    caller gets its own copy of the response, so that middleware changing one changes no
    other. An error (an ``ActionError``, a response with errors, an exception) reaches
    every caller of that run.

    With ``cache_ttl_in_seconds`` above 0, a successful response also answers the calls
    with its key for that long (the ``cache_max_entries`` most recent keys are kept); error
    responses and ``ActionError`` are cached too if ``cache_errors``. Other exceptions are
    never cached. A request whose default key cannot be computed runs on its own.
    """

    settings_schema: ClassVar[type[BaseModel]] = _DeduplicatingSettings

    def __init__(
        self,
        key: Callable[[EnrichedActionRequest], Hashable] | None = None,
        cache_ttl_in_seconds: float = 0,
        cache_errors: bool = False,
        cache_max_entries: int = 1000,
    ) -> None:
        if key is not None:
            self.key = key  # type: ignore[method-assign, assignment]
        self.cache_ttl = float(cache_ttl_in_seconds)
        self.cache_errors = cache_errors
        self.cache_max_entries = cache_max_entries
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, _Run] = {}
        self._cache: OrderedDict[Hashable, tuple[float, ActionResponse | ActionError]] = (
            OrderedDict()
        )

    def bind(self) -> DeduplicatingInvoker:
        bound = copy.copy(self)
        bound._reset()
        return bound

    def key(self, request: EnrichedActionRequest) -> Hashable:
        """What makes two calls the same: the action, the body and the active switches."""
        return (request.action, canonical_bytes(request.body), tuple(sorted(request.switches)))

    def invoke(self, request: EnrichedActionRequest, execute: ExecuteAction) -> ActionResponse:
        try:
            key = self.key(request)
        except (TypeError, ValueError) as error:
            logger.debug("Not deduplicating a call to %r: %s", request.action, error)
            return execute(request)
        leading = False
        run: _Run | None = None
        with self._lock:
            cached = self._cached(key)
            if cached is None:
                run = self._running.get(key)
                if run is not None:
                    run.waiters += 1
                else:
                    run = self._running[key] = _Run()
                    leading = True
        if cached is not None:
            return _deliver(request, cached)
        assert run is not None
        if leading:
            return self._lead(request, execute, key, run)
        return self._wait(request, run)

    def _cached(self, key: Hashable) -> ActionResponse | ActionError | None:
        if not self.cache_ttl:
            return None
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._cache[key]
            return None
        return entry[1]

    def _lead(
        self, request: EnrichedActionRequest, execute: ExecuteAction, key: Hashable, run: _Run
    ) -> ActionResponse:
        response: ActionResponse | None = None
        error: BaseException | None = None
        try:
            response = execute(request)
            return response
        except BaseException as raised:
            error = raised
            raise
        finally:
            self._finish(key, run, response, error)

    def _finish(
        self, key: Hashable, run: _Run, response: ActionResponse | None, error: BaseException | None
    ) -> None:
        with self._lock:
            del self._running[key]  # later calls start a run of their own
            sharing = run.waiters > 0 or self.cache_ttl > 0
        shared: ActionResponse | ActionError | None = None
        if sharing:
            # Copy what others will read now, before this caller's middleware can change it.
            try:
                if response is not None:
                    shared = _copy_of(response, response.action)
                elif isinstance(error, ActionError):
                    shared = ActionError(copy.deepcopy(error.errors), set_is_caller_error_to=None)
            except Exception as failure:
                error = failure
        if shared is not None and self.cache_ttl and self._cacheable(shared):
            with self._lock:
                self._cache[key] = (time.monotonic() + self.cache_ttl, shared)
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_max_entries:
                    self._cache.popitem(last=False)
        run.response = shared if isinstance(shared, ActionResponse) else None
        run.error = shared if isinstance(shared, ActionError) else error
        run.done.set()

    def statistics(self) -> InvokerStatistics:
        with self._lock:
            return InvokerStatistics(
                running=len(self._running),
                waiting=sum(run.waiters for run in self._running.values()),
                cached=len(self._cache),
            )

    def _cacheable(self, outcome: ActionResponse | ActionError) -> bool:
        if isinstance(outcome, ActionError):
            return self.cache_errors
        return self.cache_errors or not outcome.errors

    @staticmethod
    def _wait(request: EnrichedActionRequest, run: _Run) -> ActionResponse:
        while not run.done.wait(_WAIT_SLICE):
            pass
        if run.response is not None:
            return _deliver(request, run.response)
        error = run.error
        assert error is not None
        if isinstance(error, ActionError):
            return _deliver(request, error)
        raise _copy_exception(error) from error

    def __repr__(self) -> str:
        return (
            f"DeduplicatingInvoker(cache_ttl_in_seconds={self.cache_ttl}, "
            f"cache_errors={self.cache_errors})"
        )


def _copy_of(response: ActionResponse, action: str) -> ActionResponse:
    return ActionResponse(
        action=action, errors=list(response.errors), body=copy.deepcopy(response.body)
    )


def _deliver(
    request: EnrichedActionRequest, outcome: ActionResponse | ActionError
) -> ActionResponse:
    """A caller's own copy of a shared outcome (raised again if it was an ``ActionError``)."""
    if isinstance(outcome, ActionError):
        raise ActionError(list(outcome.errors), set_is_caller_error_to=None)
    return _copy_of(outcome, request.action)


def _copy_exception(error: BaseException) -> BaseException:
    """The same exception for another thread to raise (a copy: one exception object raised
    in several threads at once would mix their tracebacks)."""
    try:
        clone = copy.copy(error)
    except Exception:
        clone = RuntimeError(str(error))
    return clone
