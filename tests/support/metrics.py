"""A metrics recorder for tests: servers, clients and transports built with
``{"path": "tests.support.metrics:RecordingMetrics"}`` (or given an instance) keep what they
record on their own recorder."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from servicewire.metrics import MetricName, MetricsRecorder, Tags

RECORDING_METRICS = {"path": "tests.support.metrics:RecordingMetrics"}


class RecordingMetrics(MetricsRecorder):
    """Records every counter, timer and histogram with its tags; :attr:`counts` sums the
    counters by name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float, dict[str, str]]] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def counter(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        with self._lock:
            self.counts[name] += value
        self._record("counter", name, value, tags)

    def timer(self, name: str, seconds: float, tags: Tags | None = None) -> None:
        self._record("timer", name, seconds, tags)

    def histogram(self, name: str, value: float, tags: Tags | None = None) -> None:
        self._record("histogram", name, value, tags)

    def _record(self, kind: str, name: str, value: float, tags: Tags | None) -> None:
        with self._lock:
            self.calls.append((kind, name, value, dict(tags or {})))

    def count(self, name: str, **tags: str) -> int:
        """The sum of the counter ``name`` recorded with exactly these ``tags``."""
        with self._lock:
            return int(
                sum(value for k, n, value, t in self.calls if (k, n, t) == ("counter", name, tags))
            )

    def recorded(self, kind: str, name: str) -> list[tuple[float, dict[str, str]]]:
        """The values and tags recorded as ``kind`` (``"counter"``, ``"timer"``,
        ``"histogram"``) under ``name``, in order."""
        with self._lock:
            return [(value, tags) for k, n, value, tags in self.calls if (k, n) == (kind, name)]


def metrics_of(owner: Any) -> RecordingMetrics:
    """The recording recorder of a server, a service handler or a transport."""
    metrics = owner.metrics
    assert isinstance(metrics, RecordingMetrics), f"{owner!r} does not record its metrics"
    return metrics


def check_sizes_recorded(
    client: RecordingMetrics, server: RecordingMetrics, service: str, body_size: int
) -> None:
    """One round trip of a body of ``body_size`` bytes each way was recorded: the request's
    size by the client transport, the response's by the server transport, both tagged with
    ``service``."""
    [(request_size, request_tags)] = client.recorded("histogram", MetricName.TRANSPORT_REQUEST_SIZE)
    [(response_size, response_tags)] = server.recorded(
        "histogram", MetricName.TRANSPORT_RESPONSE_SIZE
    )
    assert body_size < request_size < body_size + 1000
    assert body_size < response_size < body_size + 1000
    assert request_tags == response_tags == {"service": service}
