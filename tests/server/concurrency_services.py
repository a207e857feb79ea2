"""A service for the concurrency tests, and a probe that sees how its actions overlap.

Actions report to :data:`probe` (the ``probe`` fixture gives each test a fresh one): how many
of them run at once, and the most that ever did. Latched actions wait for a permit the test
hands out, so that a test decides when each round of calls may finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from servicewire import (
    Action,
    DeduplicatingInvoker,
    EnrichedActionRequest,
    JobResponse,
    SerializedInvoker,
    Server,
)
from servicewire.transport.redis.protocol import queue_key, request_queue_name
from servicewire.types import Body
from tests.support.waiting import DEADLINE
from tests.transport.redis.support import layer, make_client, serving


class Probe:
    """Counts the actions running now, the most that ever ran at once, and who entered."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.running = 0
        self.most = 0
        self.entered: list[Any] = []
        self.finished: list[Any] = []
        self.permits = threading.Semaphore(0)

    @contextmanager
    def inside(self, tag: Any) -> Iterator[None]:
        with self.condition:
            self.running += 1
            self.most = max(self.most, self.running)
            self.entered.append(tag)
            self.condition.notify_all()
        try:
            yield
        finally:
            with self.condition:
                self.running -= 1
                self.finished.append(tag)
                self.condition.notify_all()

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        """Wait (at most :data:`DEADLINE`) until ``condition()``, checked under the lock."""
        with self.condition:
            if not self.condition.wait_for(condition, DEADLINE):
                raise AssertionError(f"timed out waiting for {what}")

    def wait_entered(self, count: int) -> None:
        self.wait_for(f"{count} actions to start", lambda: len(self.entered) >= count)

    def allow(self, count: int) -> None:
        """Let ``count`` latched actions finish."""
        self.permits.release(count)


probe = Probe()


def latched(request: EnrichedActionRequest) -> Body:
    """Run until the test gives a permit (see :meth:`Probe.allow`)."""
    with probe.inside(request.body.get("tag")):
        if not probe.permits.acquire(timeout=DEADLINE):
            raise RuntimeError("no permit came")
        logging.getLogger("tests.concurrency").info("finishing %s", request.body.get("tag"))
    return {"tag": request.body.get("tag"), "thread": threading.current_thread().name}


class Latched(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return latched(request)


class Serialized(Action):
    """A latched action whose calls must never overlap."""

    invoker = SerializedInvoker()

    def run(self, request: EnrichedActionRequest) -> Body:
        return latched(request)


class Deduplicated(Action):
    """Counts its runs; the first run waits for a permit."""

    invoker = DeduplicatingInvoker()
    runs = 0

    def run(self, request: EnrichedActionRequest) -> Body:
        with probe.inside(request.body.get("tag")):
            type(self).runs += 1
            if not probe.permits.acquire(timeout=DEADLINE):
                raise RuntimeError("no permit came")
        return {"value": request.body.get("value"), "runs": type(self).runs}


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> Body:
        return dict(request.body)


class Spin(Action):
    """Loops in Python until released: an interrupt reaches it at once."""

    release = threading.Event()

    def run(self, request: EnrichedActionRequest) -> Body:
        with probe.inside("spin"):
            while not Spin.release.wait(0.01):
                pass
        return {"spun": True}


class Block(Action):
    """Blocks in one call no interrupt reaches until the test releases it."""

    release = threading.Event()

    def run(self, request: EnrichedActionRequest) -> Body:
        with probe.inside("block"):
            Block.release.wait()
        return {"blocked": True}


class ConcurrencyServer(Server):
    service_name = "concurrency"
    action_class_map: Any = {
        "latched": Latched,
        "serialized": Serialized,
        "deduplicated": Deduplicated,
        "echo": Echo,
        "spin": Spin,
        "block": Block,
    }


def call(action: str, body: Body | None = None) -> dict[str, Any]:
    """A job of one call, for ``call_jobs_parallel``."""
    return {"service_name": "concurrency", "actions": [{"action": action, "body": body or {}}]}


class Service:
    """A :class:`ConcurrencyServer` running over Redis in a thread, with a client for it."""

    def __init__(self, server: Server, redis_url: str) -> None:
        self.server = server
        self.client = make_client("concurrency", layer(redis_url))
        self._redis = redis.Redis.from_url(redis_url)

    def queued(self) -> int:
        """Requests waiting in the service's Redis queue."""
        return int(self._redis.llen(queue_key(request_queue_name("concurrency"))))

    def send(self, jobs: list[dict[str, Any]]) -> Callable[[], list[JobResponse]]:
        """Send ``jobs`` now; return the function that waits for their responses."""
        future = self.client.call_jobs_parallel_future(
            jobs, timeout=DEADLINE, raise_action_errors=False, raise_job_errors=False
        )
        return lambda: list(future.result())  # type: ignore[arg-type]

    def close(self) -> None:
        self.client.close()
        self._redis.close()


@contextmanager
def running(
    redis_url: str, server_class: type[Server] = ConcurrencyServer, **settings: Any
) -> Iterator[Service]:
    """Serve ``server_class`` over the test Redis (with ``settings``) for the block."""
    with serving(server_class, layer(redis_url), **settings) as server:
        service = Service(server, redis_url)
        try:
            yield service
        finally:
            service.close()
