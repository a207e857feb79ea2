"""Keeping the lease on the message being handled, from a background thread.

A server holds a lease on each request (or fan-out message) it works on; if the server dies,
the lease runs out and another server takes the message. A job may legitimately run longer
than the visibility timeout, so while it runs, a daemon thread renews the lease every third
of the timeout. The thread only renews: a process that dies (or is killed) stops renewing,
which is the point.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

__all__ = ["LeaseKeeper"]

_logger = logging.getLogger("servicewire.transport.sql")


class LeaseKeeper:
    """Calls each ``renew`` function given to :meth:`hold` every ``interval`` seconds (the
    first time ``interval`` seconds after :meth:`hold`) until it is released; ``renew``
    returns ``False`` when the lease was lost.

    A server holds one lease per request it is handling: one at a time, or several with
    worker threads. Each is known by the key given to :meth:`hold` and :meth:`release`.
    """

    def __init__(self, interval: float, description: str) -> None:
        self.interval = interval
        self.description = description
        self._condition = threading.Condition()
        # key -> (renew, when it is next due)
        self._leases: dict[Hashable, tuple[Callable[[], bool], float]] = {}
        self._closed = False
        self._thread: threading.Thread | None = None

    def hold(self, key: Hashable, renew: Callable[[], bool]) -> None:
        with self._condition:
            self._leases[key] = (renew, time.monotonic() + self.interval)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"lease keeper of {self.description}", daemon=True
                )
                self._thread.start()
            self._condition.notify_all()

    def release(self, key: Hashable) -> None:
        with self._condition:
            self._leases.pop(key, None)
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._leases.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        with self._condition:
            while not self._closed:
                if not self._leases:
                    self._condition.wait()
                    continue
                now = time.monotonic()
                due = [(key, renew) for key, (renew, when) in self._leases.items() if when <= now]
                if not due:
                    self._condition.wait(min(when for _, when in self._leases.values()) - now)
                    continue
                for key, renew in due:
                    held_now = self._leases.get(key)
                    if self._closed or held_now is None or held_now[0] is not renew:
                        continue  # released while an earlier one was renewed
                    self._leases[key] = (renew, now + self.interval)
                    self._condition.release()
                    try:
                        held = renew()
                    except Exception:
                        _logger.exception("Could not renew the lease of %s", self.description)
                        held = True  # the next renewal may succeed before the lease runs out
                    finally:
                        self._condition.acquire()
                    if not held and self._leases.get(key, (None,))[0] is renew:
                        _logger.warning(
                            "%s lost the lease on a message it is handling: the visibility "
                            "timeout ran out and another process may be handling it too",
                            self.description,
                        )
                        del self._leases[key]
