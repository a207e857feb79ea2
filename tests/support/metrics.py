"""A metrics recorder for tests: counts counters by name and tags."""

from __future__ import annotations

import threading
from typing import Any

from servicewire import MetricsRecorder


class CountingMetrics(MetricsRecorder):
    """``counts[(name, (("tag", "value"), ...))]``: the sum of each counter, by its tags
    (sorted); ``count(name, **tags)`` reads one."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._lock = threading.Lock()

    def counter(self, name: str, value: int = 1, tags: Any = None) -> None:
        key = (name, tuple(sorted((tags or {}).items())))
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + value

    def count(self, name: str, **tags: str) -> int:
        return self.counts.get((name, tuple(sorted(tags.items()))), 0)
