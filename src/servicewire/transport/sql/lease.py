"""Keeping the lease on the message being handled, from a background thread.

A server holds a lease on the request (or fan-out message) it works on; if the server dies,
the lease runs out and another server takes the message. A job may legitimately run longer
than the visibility timeout, so while it runs, a daemon thread renews the lease every third
of the timeout. The thread only renews: a process that dies (or is killed) stops renewing,
which is the point.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["LeaseKeeper"]

_logger = logging.getLogger("servicewire.transport.sql")


class LeaseKeeper:
    """Calls the ``renew`` function given to :meth:`hold` every ``interval`` seconds until
    :meth:`release`; ``renew`` returns ``False`` when the lease was lost."""

    def __init__(self, interval: float, description: str) -> None:
        self.interval = interval
        self.description = description
        self._condition = threading.Condition()
        self._renew: Callable[[], bool] | None = None
        self._generation = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def hold(self, renew: Callable[[], bool]) -> None:
        with self._condition:
            self._renew = renew
            self._generation += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"lease keeper of {self.description}", daemon=True
                )
                self._thread.start()
            self._condition.notify_all()

    def release(self) -> None:
        with self._condition:
            self._renew = None
            self._generation += 1
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._renew = None
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        with self._condition:
            while not self._closed:
                if self._renew is None:
                    self._condition.wait()
                    continue
                generation = self._generation
                self._condition.wait(self.interval)
                renew = self._renew
                if self._closed or renew is None or generation != self._generation:
                    continue
                self._condition.release()
                try:
                    held = renew()
                except Exception:
                    _logger.exception("Could not renew the lease of %s", self.description)
                    held = True  # the next renewal may succeed before the lease runs out
                finally:
                    self._condition.acquire()
                if not held and generation == self._generation:
                    _logger.warning(
                        "%s lost the lease on the message it is handling: the visibility "
                        "timeout ran out and another process may be handling it too",
                        self.description,
                    )
                    self._renew = None
